// Package e2e holds the reference helpdesk's end-to-end tests: a real
// Chromium (driven with chromedp) walks through the journey a new admin and
// operator take, against the helpdesk and the Duo simulator running in the
// test process and the Duo plugin running as a real subprocess.
//
// Set HELPDESK_E2E_ARTIFACTS to a directory to keep the screenshots and the
// helpdesk's log; otherwise they go to the test's temporary directory.
package e2e
