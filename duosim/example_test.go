package duosim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/duosecurity/duo_universal_golang/duouniversal"

	"github.com/helpdesk-duo/duo-plugin/duosim"
)

// Example runs a whole scripted login with Duo's own Go client: health
// check, authorize URL, the browser's redirect back, and the code
// exchange.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sim, err := duosim.Start(ctx, duosim.Config{Scripted: true})
	if err != nil {
		panic(err)
	}
	defer sim.Close()

	app := sim.Apps()[0]
	client, err := duouniversal.NewClient(app.ClientID, app.ClientSecret.Reveal(), sim.APIHost(),
		"https://app.example/duo-callback", duouniversal.WithHTTPClient(sim.HTTPClient(5*time.Second)))
	if err != nil {
		panic(err)
	}
	if _, err := client.HealthCheck(); err != nil {
		panic(err)
	}
	state, _ := client.GenerateState()
	authURL, err := client.CreateAuthURL("alice", state)
	if err != nil {
		panic(err)
	}

	// Stand-in for the browser: stop at the redirect back to the app.
	browser := sim.HTTPClient(5 * time.Second)
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	fmt.Println("state matches:", back.Query().Get("state") == state)

	tok, err := client.ExchangeAuthorizationCodeFor2faResult(back.Query().Get("duo_code"), "alice")
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.AuthResult.Result, tok.PreferredUsername)
	// Output:
	// state matches: true
	// allow alice
}
