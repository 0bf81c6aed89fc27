// Package trust is the trust suite of issue 10: tests, through the real
// plugin binary, the host SDK (host.Start) and the Duo simulator, that the
// plugin fails closed, keeps no secret in the open and loses nothing under
// faults. Each case is one test named TestCaseNN…; a denial is checked in
// the answer and in the authentication log (read back with
// ListAuthEvents as an admin), with its precise reason.
//
// Like internal/integration, the suite uses only the SDK, the contract and
// the simulator, never the plugin's packages (internal/layout checks it).
//
// Cases covered (numbers are the issue's):
//
//   - 1  TestCase01EmptyOrUnknownStateDeniedWithoutCallingDuo
//   - 2  TestCase02StateOfAnotherOperatorDenied
//   - 3  TestCase03ReplayedCallbackDenied
//   - 4  TestCase04ConcurrentCallbacksOneAllow
//   - 9  TestCase09HealthCheckFailingDeniesGenerically
//
// Remaining: 5–8, 10–39 (see the issue).
package trust
