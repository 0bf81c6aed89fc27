package host_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/helpdesk-duo/duo-plugin/host"
)

// The release key a vendor pins, shipped with its product: the line
// `duo-release keygen` printed. Every release signed with it installs and
// starts; nothing else does.
const pinnedKeys = `# Duo Security plugin release key
duo-plugin-ed25519 YJkO2AM0Pvf3bjL3aVHAyi8Hxw9kKYswrske0R7gS2M= example
`

// Install a release bundle (the .tar.gz duo-release writes, or its
// directory) and start what is current. Install verifies the signature,
// the manifest and this platform's binary in a fresh directory before it
// switches; a refused bundle leaves the running release as it was.
//
// No bundle is where this example looks, so it shows the refusals.
func ExampleInstall() {
	ctx := context.Background()
	keys, err := host.ParsePublicKeys([]byte(pinnedKeys))
	if err != nil {
		panic(err)
	}
	const root = "/nonexistent/helpdesk/plugins/duo-security"

	inst, err := host.Install(ctx, "/nonexistent/duo-security-0.2.0.tar.gz", root, keys)
	switch {
	case errors.Is(err, host.ErrBadSignature), errors.Is(err, host.ErrBadBundle), errors.Is(err, host.ErrChecksumMismatch):
		fmt.Println("refused: not a bundle signed by our key; the current release stays")
	case err != nil:
		fmt.Println("not installed; the current release stays")
	default:
		fmt.Println("installed", inst.Version, "signed by", inst.KeyID, "- restart the plugin to run it")
	}

	manifest, err := host.CurrentManifest(root)
	if errors.Is(err, host.ErrNotInstalled) {
		fmt.Println("no Duo plugin installed: refusing Duo logins")
		return
	}
	p, err := host.Start(ctx, host.Options{ManifestPath: manifest, TrustedKeys: keys})
	if err != nil {
		fmt.Println("the Duo plugin did not start: refusing Duo logins")
		return
	}
	defer p.Close()
	// Output:
	// not installed; the current release stays
	// no Duo plugin installed: refusing Duo logins
}
