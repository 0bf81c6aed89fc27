//go:build duotest_protocol2

package contract

// A test build only (see served.go): a plugin that speaks only the next
// major protocol, which no host of this tree offers.
const (
	servedMajor = ProtocolVersion + 1
	servedMinor = 0
	servesAll   = true
)
