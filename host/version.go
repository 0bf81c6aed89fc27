package host

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// toSemver returns v in the "v"-prefixed form golang.org/x/mod/semver
// expects, and whether v is a full semantic version: MAJOR.MINOR.PATCH with
// an optional pre-release and build metadata, written without a leading "v".
func toSemver(v string) (string, bool) {
	// Manifests and hosts write versions as 1.2.3; a "v" would be a second
	// spelling of the same version.
	if v == "" || v[0] == 'v' {
		return "", false
	}
	sv := "v" + v
	if !semver.IsValid(sv) {
		return "", false
	}
	// IsValid accepts the shorthands v1 and v1.2, which Canonical fills in;
	// only a full version is unchanged by it once build metadata is removed.
	if semver.Canonical(sv) != strings.TrimSuffix(sv, semver.Build(sv)) {
		return "", false
	}
	return sv, true
}

// isVersion reports whether v is a full semantic version like 1.2.3.
func isVersion(v string) bool {
	_, ok := toSemver(v)
	return ok
}

// checkHostVersion returns an error matching ErrHostTooOld when hostVersion
// is older than minHostVersion in semantic-version order (pre-release
// identifiers compared field by field, build metadata ignored). An empty
// hostVersion or minHostVersion means no constraint, so it returns nil.
func checkHostVersion(hostVersion, minHostVersion string) error {
	if hostVersion == "" || minHostVersion == "" {
		return nil
	}
	host, ok := toSemver(hostVersion)
	if !ok {
		return fmt.Errorf("Options.HostVersion %q is not a semantic version like 1.2.3", hostVersion)
	}
	least, ok := toSemver(minHostVersion)
	if !ok {
		return fmt.Errorf("manifest min_host_version %q is not a semantic version like 1.2.3", minHostVersion)
	}
	if semver.Compare(host, least) < 0 {
		return sentinelError(ErrHostTooOld, "needs host version %s or newer; this host is %s", minHostVersion, hostVersion)
	}
	return nil
}
