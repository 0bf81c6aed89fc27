//go:build !duotest_older && !duotest_protocol2

package contract

// What this build of the contract serves: the protocol it is. Two build
// tags, for tests only, make a plugin binary pose as another plugin, so that
// tests can run the real binary against a host of this tree:
//   - duotest_older: a plugin of protocol 1.0 that lacks the AuthLog and
//     Metrics services and reports minor 0 (served_older.go);
//   - duotest_protocol2: a plugin that speaks only protocol 2
//     (served_protocol2.go).
//
// No release is built with either tag.
const (
	servedMajor = ProtocolVersion
	servedMinor = ProtocolMinor
	// servesAll is false only for duotest_older.
	servesAll = true
)
