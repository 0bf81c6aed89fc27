package duosim

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// grant is what an authorization code stands for.
type grant struct {
	clientID    string
	redirectURI string
	username    string
	nonce       string
	outcome     Outcome // decided at authorize time
	authTime    time.Time
	device      device
}

// pendingAuth is an interactive prompt waiting for a click, keyed by its
// transaction id.
type pendingAuth struct {
	req    authRequest
	device device
}

// device is what the simulator learned about the browser at authorize
// time, for auth_context.access_device.
type device struct {
	ip, browser, browserVersion, os, osVersion string
}

func deviceFrom(remoteAddr, userAgent string) device {
	d := device{browser: "Unknown", os: "Unknown"}
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		d.ip = host
	}
	// A rough User-Agent reading is enough for realistic-looking logs.
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Version/", "Safari"},
	} {
		if i := strings.Index(userAgent, b.token); i >= 0 {
			d.browser = b.name
			v := userAgent[i+len(b.token):]
			if j := strings.IndexAny(v, " ;)"); j >= 0 {
				v = v[:j]
			}
			d.browserVersion = v
			break
		}
	}
	switch {
	case strings.Contains(userAgent, "Windows"):
		d.os = "Windows"
	case strings.Contains(userAgent, "iPhone"), strings.Contains(userAgent, "iPad"):
		d.os = "iOS"
	case strings.Contains(userAgent, "Mac OS X"):
		d.os = "Mac OS X"
	case strings.Contains(userAgent, "Android"):
		d.os = "Android"
	case strings.Contains(userAgent, "Linux"):
		d.os = "Linux"
	}
	return d
}

// The id_token's nested claims, with the JSON names and types that
// duouniversal.TokenResponse decodes.
type (
	authResultClaim struct {
		Result    string `json:"result"`
		Status    string `json:"status"`
		StatusMsg string `json:"status_msg"`
	}
	locationClaim struct {
		City    string `json:"city"`
		Country string `json:"country"`
		State   string `json:"state"`
	}
	accessDeviceClaim struct {
		Browser             string        `json:"browser"`
		BrowserVersion      string        `json:"browser_version"`
		FlashVersion        string        `json:"flash_version"`
		Hostname            string        `json:"host_name"`
		IP                  string        `json:"ip"`
		IsEncryptionEnabled any           `json:"is_encryption_enabled"` // bool or "unknown"
		IsFirewallEnabled   any           `json:"is_firewall_enabled"`
		IsPasswordSet       any           `json:"is_password_set"`
		JavaVersion         string        `json:"java_version"`
		Location            locationClaim `json:"location"`
		OS                  string        `json:"os"`
		OSVersion           string        `json:"os_version"`
	}
	authDeviceClaim struct {
		IP       string        `json:"ip"`
		Location locationClaim `json:"location"`
		Name     string        `json:"name"`
	}
	applicationClaim struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	}
	userClaim struct {
		Groups []string `json:"groups"`
		Key    string   `json:"key"`
		Name   string   `json:"name"`
	}
	authContextClaim struct {
		AccessDevice accessDeviceClaim `json:"access_device"`
		Alias        string            `json:"alias"`
		Application  applicationClaim  `json:"application"`
		AuthDevice   authDeviceClaim   `json:"auth_device"`
		Email        string            `json:"email"`
		EventType    string            `json:"event_type"`
		Factor       string            `json:"factor"`
		Isotimestamp string            `json:"isotimestamp"`
		OodSoftware  string            `json:"ood_software"`
		Reason       string            `json:"reason"`
		Result       string            `json:"result"`
		Timestamp    int64             `json:"timestamp"`
		Txid         string            `json:"txid"`
		User         userClaim         `json:"user"`
	}
)

// simLocation is where every simulated request "comes from" (Duo's home
// town), since loopback addresses have no geolocation.
var simLocation = locationClaim{City: "Ann Arbor", Country: "United States", State: "Michigan"}

// userKey derives a stable Duo-style user key ("DU" + 18 characters) from
// the username.
func userKey(username string) string {
	sum := sha256.Sum256([]byte(username))
	return "DU" + base32.StdEncoding.EncodeToString(sum[:])[:18]
}

// wrongUsername is the preferred_username OutcomeWrongUser substitutes; it
// always differs from username.
func wrongUsername(username string) string { return "impostor-" + username }

// idToken mints the HS512 id_token for a redeemed grant. issuer is
// "https://{Host}/oauth/v1/token" as the client reached us.
func (s *Server) idToken(app App, g grant, issuer string, now time.Time) (string, error) {
	v := verdictFor(g.outcome)
	username := g.username
	if g.outcome == OutcomeWrongUser {
		username = wrongUsername(username)
	}
	fault, claimed := s.tokenTweaks(g.username)
	if claimed != "" {
		username = claimed
	}
	jti, err := randomToken(36)
	if err != nil {
		return "", fmt.Errorf("generate jti: %w", err)
	}
	txid, err := randomUUID()
	if err != nil {
		return "", fmt.Errorf("generate txid: %w", err)
	}
	email := ""
	if strings.Contains(username, "@") {
		email = username
	}
	authDevice := authDeviceClaim{}
	if v.usedDevice {
		authDevice = authDeviceClaim{IP: g.device.ip, Location: simLocation, Name: "Duo Simulator Phone"}
	}
	authUTC := g.authTime.UTC()
	ctx := authContextClaim{
		AccessDevice: accessDeviceClaim{
			Browser:             g.device.browser,
			BrowserVersion:      g.device.browserVersion,
			FlashVersion:        "uninstalled",
			IP:                  g.device.ip,
			IsEncryptionEnabled: "unknown",
			IsFirewallEnabled:   "unknown",
			IsPasswordSet:       "unknown",
			JavaVersion:         "uninstalled",
			Location:            simLocation,
			OS:                  g.device.os,
			OSVersion:           g.device.osVersion,
		},
		Application:  applicationClaim{Key: app.ClientID, Name: "Duo Simulator Web SDK"},
		AuthDevice:   authDevice,
		Email:        email,
		EventType:    "authentication",
		Factor:       v.factor,
		Isotimestamp: authUTC.Format("2006-01-02T15:04:05.000000+00:00"),
		Reason:       v.reason,
		Result:       v.ctxResult,
		Timestamp:    authUTC.Unix(),
		Txid:         txid,
		User:         userClaim{Groups: []string{}, Key: userKey(username), Name: username},
	}
	claims := jwt.MapClaims{
		"iss":                issuer,
		"aud":                app.ClientID,
		"sub":                username,
		"preferred_username": username,
		"exp":                now.Add(idTokenLifetime).Unix(),
		"iat":                now.Unix(),
		"auth_time":          authUTC.Unix(),
		"jti":                jti,
		"auth_result":        authResultClaim{Result: v.result, Status: v.status, StatusMsg: v.statusMsg},
		"auth_context":       ctx,
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	signed, err := signIDToken(claims, app.ClientSecret.Reveal(), fault, now)
	if err != nil {
		return "", fmt.Errorf("sign id_token: %w", err)
	}
	return signed, nil
}
