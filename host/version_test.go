package host

import (
	"errors"
	"testing"
)

func TestIsVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    string
		want bool
	}{
		{name: "release", v: "1.2.3", want: true},
		{name: "zeros", v: "0.0.0", want: true},
		{name: "pre-release", v: "1.0.0-alpha.10", want: true},
		{name: "build metadata", v: "1.0.0+build.5", want: true},
		{name: "pre-release and build metadata", v: "1.0.0-rc.1+build.5", want: true},
		{name: "empty", v: ""},
		{name: "major only", v: "1"},
		{name: "major and minor only", v: "1.2"},
		{name: "major and minor only with build metadata", v: "1.2+build"},
		{name: "leading v", v: "v1.2.3"},
		{name: "leading V", v: "V1.2.3"},
		{name: "leading zero", v: "01.2.3"},
		{name: "leading zero in numeric pre-release", v: "1.0.0-alpha.01"},
		{name: "empty pre-release", v: "1.0.0-"},
		{name: "four components", v: "1.2.3.4"},
		{name: "surrounding space", v: " 1.2.3"},
		{name: "word", v: "one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := isVersion(tc.v); got != tc.want {
				t.Fatalf("isVersion(%q) = %t, want %t", tc.v, got, tc.want)
			}
		})
	}
}

func TestCheckHostVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		host, min  string
		wantTooOld bool   // whether the error matches ErrHostTooOld
		wantErr    string // exact message; "" for no error
	}{
		{name: "equal", host: "1.0.0", min: "1.0.0"},
		{name: "newer patch", host: "1.0.1", min: "1.0.0"},
		{name: "older patch", host: "1.0.0", min: "1.0.1", wantTooOld: true, wantErr: "needs host version 1.0.1 or newer; this host is 1.0.0"},
		{name: "minor 10 is newer than minor 9", host: "1.10.0", min: "1.9.0"},
		{name: "minor 9 is older than minor 10", host: "1.9.0", min: "1.10.0", wantTooOld: true, wantErr: "needs host version 1.10.0 or newer; this host is 1.9.0"},
		{name: "major 2 is older than major 10", host: "2.0.0", min: "10.0.0", wantTooOld: true, wantErr: "needs host version 10.0.0 or newer; this host is 2.0.0"},
		{name: "alpha.2 is older than alpha.10", host: "1.0.0-alpha.2", min: "1.0.0-alpha.10", wantTooOld: true, wantErr: "needs host version 1.0.0-alpha.10 or newer; this host is 1.0.0-alpha.2"},
		{name: "alpha.10 is newer than alpha.2", host: "1.0.0-alpha.10", min: "1.0.0-alpha.2"},
		{name: "rc.1 is older than its release", host: "1.0.0-rc.1", min: "1.0.0", wantTooOld: true, wantErr: "needs host version 1.0.0 or newer; this host is 1.0.0-rc.1"},
		{name: "release is newer than its rc.1", host: "1.0.0", min: "1.0.0-rc.1"},
		{name: "build metadata on the host is ignored", host: "1.0.0+build.5", min: "1.0.0"},
		{name: "build metadata on the minimum is ignored", host: "1.0.0", min: "1.0.0+build.5"},
		{name: "no host version: not checked", host: "", min: "9.0.0"},
		{name: "no minimum: not checked", host: "1.0.0", min: ""},
		{name: "host major only", host: "1", min: "1.0.0", wantErr: `Options.HostVersion "1" is not a semantic version like 1.2.3`},
		{name: "host major and minor only", host: "1.2", min: "1.0.0", wantErr: `Options.HostVersion "1.2" is not a semantic version like 1.2.3`},
		{name: "host with leading v", host: "v1.2.3", min: "1.0.0", wantErr: `Options.HostVersion "v1.2.3" is not a semantic version like 1.2.3`},
		{name: "host with leading zero", host: "01.2.3", min: "1.0.0", wantErr: `Options.HostVersion "01.2.3" is not a semantic version like 1.2.3`},
		{name: "invalid minimum", host: "1.0.0", min: "1.2", wantErr: `manifest min_host_version "1.2" is not a semantic version like 1.2.3`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkHostVersion(tc.host, tc.min)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("checkHostVersion(%q, %q) = %v, want nil", tc.host, tc.min, err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("checkHostVersion(%q, %q) = %v, want %q", tc.host, tc.min, err, tc.wantErr)
			}
			if got := errors.Is(err, ErrHostTooOld); got != tc.wantTooOld {
				t.Fatalf("errors.Is(%v, ErrHostTooOld) = %t, want %t", err, got, tc.wantTooOld)
			}
		})
	}
}
