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
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("From", from.String())
	header("To", to.String())
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

// encodeSubject returns the Subject header's value: printable ASCII as it
// is, anything else as RFC 2047 Q-encoded words. Both are folded onto
// continuation lines at spaces so that lines stay near RFC 5322's
// 78-character recommendation.
func encodeSubject(s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	if enc != s {
		// The encoded words hold no spaces (Q encodes them as "_"), so the
		// spaces between them are the only ones, and each is a fold point.
		return strings.ReplaceAll(enc, " ", "\r\n ")
	}
	const room = 78 - len("Subject: ")
	var out strings.Builder
	line := 0
	for i, w := range strings.Split(s, " ") {
		if i > 0 {
			if line+1+len(w) > room && line > 0 {
				out.WriteString("\r\n")
				line = 0
			}
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
