// Package trust is the trust suite of issue 10: tests, through the real
// plugin binary, the host SDK (host.Start) and the Duo simulator, that the
// plugin fails closed, keeps no secret in the open and loses nothing under
// faults. Each case is one test named TestCaseNN…; a denial is checked in
// the answer and in the authentication log (read back with
// ListAuthEvents as an admin), with its precise reason.
//
// Like internal/integration, the suite uses only the SDK, the contract and
// the simulator, never the plugin's packages (internal/layout checks it);
// the storage cases open the plugin's database file from outside with the
// SQLite driver, as another process would.
//
// Cases covered (numbers are the issue's):
//
//   - 1  TestCase01EmptyOrUnknownStateDeniedWithoutCallingDuo
//   - 2  TestCase02StateOfAnotherOperatorDenied
//   - 3  TestCase03ReplayedCallbackDenied
//   - 4  TestCase04ConcurrentCallbacksOneAllow
//   - 5  TestCase05ExpiredStateDeniedAndPurged (about a minute: the
//     plugin's clock is the real one, its sweep runs once a minute)
//   - 6  TestCase06ForgedIDTokensDenied (duosim.SetTokenFault)
//   - 7  TestCase07PreferredUsernameMismatchDenied
//     (duosim.SetClaimedUsername)
//   - 8  TestCase08UsernamesCanonicalOrRefused
//   - 9  TestCase09HealthCheckFailingDeniesGenerically
//   - 10 TestCase10TokenEndpointNeverAnswers (the code exchange;
//     internal/integration.TestTimeoutsNest covers BeginLogin's health
//     check in both fail modes)
//   - 11 TestCase11PluginKilledBetweenRedirectAndCallback
//   - 12 TestCase12PluginCrashInsideBeginLogin
//   - 13 TestCase13OperatorFlagUnreadableEnforcesDuo (in WAL mode a
//     writer never blocks the flag's read, so the test takes the table
//     away; a held write lock is case 29)
//   - 15 TestCase15RedeemedBackupCodeRefused
//   - 16 TestCase16ParallelRedemptionsOneSuccess
//   - 17 TestCase17FailuresPastThresholdLock
//   - 18 TestCase18CodesStoredOnlyAsHashes (the database's bytes hold no
//     code; crypto/rand checked on the source, not statistically)
//   - 23 TestCase23ClientSecretNeverReturnedAndEncrypted
//   - 29 TestCase29WriteLockHeldLoginRefused
//   - 33 TestCase33UninstallLeavesNothing
//
// Remaining: 14, 19–22, 24–28, 30–32, 34–39 (see the issue). Several are
// partly proven elsewhere and should get a test here that names its case:
// internal/integration.TestTimeoutsNest (38's timeout half),
// TestFailOpenOnlyWhenDuoIsUnreachable (38's fail-open half),
// TestKilledMidRedemption (30, without the 1,000 kills), the secrecy
// checks of internal/integration's closeAndCheckLogs (22),
// TestChecksumMismatchIsRefused (25, the SDK's half),
// TestPluginSpeaksNothingBeforeHandshake (24) and TestPluginExitsWhenHostDies
// (27); TestKilledPluginFailsClosedAndComesBack overlaps case 11 here.
package trust
