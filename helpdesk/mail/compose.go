package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// compose renders m as an RFC 5322 message with CRLF line endings. m must
// have passed parse; from and to are the parsed addresses.
func compose(from, to *mail.Address, m Message, date time.Time) []byte {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(":")
		if !strings.HasPrefix(value, "\r\n") { // else it starts folded
			b.WriteString(" ")
		}
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("From", formatAddress(from))
	header("To", formatAddress(to))
	header("Subject", encodeSubject(m.Subject))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", messageID(from.Address))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: automatic mail; vacation responders must not answer it.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")

	// Quoted-printable keeps every line short and 7-bit whatever the text
	// holds; the writer turns each "\n" into CRLF, so bare CRs are folded
	// into line breaks first rather than encoded as =0D.
	text := strings.ReplaceAll(m.Text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(text)) // a bytes.Buffer does not fail
	_ = qp.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// formatAddress writes a bare address as it is, and one with a name the
// way net/mail does (quoted, or Q-encoded when not ASCII).
func formatAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.String()
}

// encodeSubject returns the Subject header's value, folded onto
// continuation lines at spaces: printable ASCII as it is, lines near RFC
// 5322's 78 characters; anything else as RFC 2047 Q-encoded words, lines
// within RFC 2047's 76 (mime's encoder makes words of at most 75, so a
// long subject starts on a continuation line, which unstructured headers
// allow).
func encodeSubject(s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	limit := 78
	if enc != s {
		limit = 76
	}
	// Q encodes spaces as "_", so in an encoded subject the spaces are
	// those between encoded words: fold points all the same.
	var out strings.Builder
	line := len("Subject: ")
	for i, w := range strings.Split(enc, " ") {
		switch {
		case i == 0 && line+len(w) > limit:
			out.WriteString("\r\n ") // compose drops the space after the colon
			line = 1
		case i > 0 && w != "" && line+1+len(w) > limit:
			out.WriteString("\r\n ")
			line = 1
		case i > 0:
			out.WriteString(" ")
			line++
		}
		out.WriteString(w)
		line += len(w)
	}
	return out.String()
}

// messageID returns a unique Message-ID in the sender's domain (RFC 5322
// §3.6.4).
func messageID(fromAddr string) string {
	var r [16]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go 1.24+)
	domain := fromAddr[strings.LastIndexByte(fromAddr, '@')+1:]
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">"
}
