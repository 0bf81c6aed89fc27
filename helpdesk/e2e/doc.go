// Package e2e holds the reference helpdesk's end-to-end tests: a real
// Chromium (driven with chromedp) walks through the journey a new admin and
// operator take, and the ways back in for an operator who cannot use Duo
// (backup codes, bypass codes from the help desk, recovery links from an
// admin), against the helpdesk and the Duo simulator running in the test
// process and the Duo plugin running as a real subprocess. Each test has
// its own helpdesk, simulator and browser, so they run in parallel.
//
// Set HELPDESK_E2E_ARTIFACTS to a directory to keep the screenshots and the
// helpdesk's log; otherwise they go to the test's temporary directory.
package e2e
