//go:build duotest_older

package contract

// A test build only (see served.go): a plugin older than this contract,
// without the AuthLog and Metrics services, reporting minor 0.
const (
	servedMajor = ProtocolVersion
	servedMinor = 0
	servesAll   = false
)
