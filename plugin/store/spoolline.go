package store

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// spoolLine is ev's line in the spool: the JSON json.Marshal writes (an
// object of Event's fields, in order, At in RFC 3339 with nanoseconds),
// then a newline, appended to buf without reflection. What readSpool
// decodes from it equals what it decodes from json.Marshal's line
// (TestSpoolLineDecodesAsMarshal, FuzzSpoolLine). Every control character
// is escaped, so a field never ends the line.
func spoolLine(buf []byte, ev Event) ([]byte, error) {
	if y := ev.At.Year(); y < 0 || y > 9999 {
		// Beyond RFC 3339: json.Marshal's own error.
		line, err := json.Marshal(ev)
		return append(append(buf, line...), '\n'), err
	}
	buf = append(buf, `{"At":"`...)
	buf = ev.At.AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, '"')
	for _, f := range [...]struct{ name, v string }{
		{`,"Kind":`, ev.Kind}, {`,"OperatorID":`, ev.OperatorID}, {`,"Actor":`, ev.Actor}, {`,"ActorID":`, ev.ActorID},
		{`,"ActorRole":`, ev.ActorRole}, {`,"ClientIP":`, ev.ClientIP}, {`,"UserAgent":`, ev.UserAgent}, {`,"Outcome":`, ev.Outcome},
		{`,"Reason":`, ev.Reason}, {`,"Detail":`, ev.Detail}, {`,"Notice":`, string(ev.Notice)},
	} {
		buf = appendJSONString(append(buf, f.name...), f.v)
	}
	return append(buf, '}', '\n'), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: '"' and '\' escaped, every
// byte below 0x20 (and DEL) as \u00XX, invalid UTF-8 as U+FFFD (as
// json.Marshal does), the rest as is.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c < 0x20 || c == 0x7f:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}
