package contract

import (
	"maps"
	"strings"
)

// TextID names a message the plugin may show a person. Ids are stable:
// hosts key their translations on them. A new message gets a new id.
type TextID string

// The plugin's messages. Each has an English template in texts; a
// placeholder {name} is filled from Text.Args["name"].
const (
	TextDuoUnavailable   TextID = "duo.login.unavailable"
	TextDuoMisconfigured TextID = "duo.login.misconfigured"
	TextLoginDenied      TextID = "duo.login.denied"
	TextNotConfigured    TextID = "duo.login.not_configured"
	TextConfirmCodes     TextID = "duo.codes.confirm"
	TextCodeDenied       TextID = "duo.codes.denied"
	TextCodeShape        TextID = "duo.codes.malformed"
	TextTicketDenied     TextID = "duo.codes.ticket_denied"
	TextLinkDenied       TextID = "duo.recovery_link.denied"
	TextLinkReset        TextID = "duo.recovery_link.reset"

	TextLocked             TextID = "duo.login.locked"               // locked until unlocked, default contact
	TextLockedContact      TextID = "duo.login.locked_contact"       // locked until unlocked; {contact}
	TextLockedUntil        TextID = "duo.login.locked_until"         // locked until {until}, default contact
	TextLockedUntilContact TextID = "duo.login.locked_until_contact" // locked until {until}; {contact}
	TextDuoLockedOut       TextID = "duo.login.duo_locked_out"       // Duo itself locked the user out
)

// texts holds the English template of every TextID.
var texts = map[TextID]string{
	TextDuoUnavailable:   "Duo Security cannot be reached right now, so sign-in is refused. Try again in a few minutes, or contact your administrator.",
	TextDuoMisconfigured: "Two-factor authentication with Duo is not working for this helpdesk right now, so sign-in is refused. Contact your administrator.",
	TextLoginDenied:      "Two-factor verification with Duo failed. Please sign in again, or contact your administrator.",
	TextNotConfigured:    "Two-factor authentication with Duo is required for your account but is not set up yet. Contact your administrator.",
	TextConfirmCodes:     "Duo is set up for your account. Save these backup codes somewhere safe, such as a password manager: each one signs you in once when you cannot use Duo. You will not see them again.",
	TextCodeDenied:       "That code did not work. Check it and try again, or contact your administrator.",
	TextCodeShape:        "That does not look like a backup code or a bypass code. Check what you typed and try again.",
	TextTicketDenied:     "Your backup codes could not be confirmed. Please sign in again: you will be shown a new set.",
	TextLinkDenied:       "This recovery link does not work: it may have been used already or expired. Ask your administrator for a new one.",
	TextLinkReset:        "Your two-factor set-up was reset. The next time you sign in with Duo you will receive new backup codes.",

	TextLocked:             "Your account is locked after too many failed two-factor attempts, so sign-in is refused. Ask an administrator or the help desk to unlock it.",
	TextLockedContact:      "Your account is locked after too many failed two-factor attempts, so sign-in is refused. Ask {contact} to unlock it.",
	TextLockedUntil:        "Your account is locked after too many failed two-factor attempts, so sign-in is refused until {until}. An administrator or the help desk can unlock it sooner.",
	TextLockedUntilContact: "Your account is locked after too many failed two-factor attempts, so sign-in is refused until {until}. Ask {contact} to unlock it sooner.",
	TextDuoLockedOut:       "Your Duo account is locked, so sign-in is refused. Ask your administrator to unlock it in Duo.",
}

// Texts returns every message id the plugin may send with its English
// template, for hosts to check their translations against.
func Texts() map[TextID]string {
	all := maps.Clone(texts)
	maps.Copy(all, settingsTexts)
	maps.Copy(all, accessTexts)
	return all
}

// template is id's English template.
func template(id TextID) (string, bool) {
	if t, ok := texts[id]; ok {
		return t, true
	}
	if t, ok := settingsTexts[id]; ok {
		return t, true
	}
	t, ok := accessTexts[id]
	return t, ok
}

// Say builds the Text of id with args given as name, value pairs.
func Say(id TextID, nameValues ...string) Text {
	t := Text{ID: id}
	if len(nameValues) > 0 {
		t.Args = make(map[string]string, len(nameValues)/2)
		for i := 0; i+1 < len(nameValues); i += 2 {
			t.Args[nameValues[i]] = nameValues[i+1]
		}
	}
	return t
}

// Text is the Text of id without arguments.
func (id TextID) Text() Text { return Text{ID: id} }

// English is the English text of id without arguments.
func (id TextID) English() string { return id.Text().English() }

// English renders t with its English template; an id without one renders
// as the id itself, so a missing template shows up in tests.
func (t Text) English() string {
	tmpl, ok := template(t.ID)
	if !ok {
		return string(t.ID)
	}
	return Fill(tmpl, t.Args)
}

// Fill replaces each {name} in tmpl with args[name]; unknown placeholders
// stay as they are.
func Fill(tmpl string, args map[string]string) string {
	if len(args) == 0 {
		return tmpl
	}
	pairs := make([]string, 0, 2*len(args))
	for k, v := range args {
		pairs = append(pairs, "{"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(tmpl)
}

// Metadata keys that carry an error's Text in its google.rpc.ErrorInfo.
const (
	textIDKey     = "text_id"
	textArgPrefix = "arg."
)

func textMetadata(t Text) map[string]string {
	if t.ID == "" {
		return nil
	}
	m := map[string]string{textIDKey: string(t.ID)}
	for k, v := range t.Args {
		m[textArgPrefix+k] = v
	}
	return m
}

func textFromMetadata(m map[string]string) Text {
	id := m[textIDKey]
	if id == "" {
		return Text{}
	}
	t := Text{ID: TextID(id)}
	for k, v := range m {
		if name, ok := strings.CutPrefix(k, textArgPrefix); ok {
			if t.Args == nil {
				t.Args = map[string]string{}
			}
			t.Args[name] = v
		}
	}
	return t
}
