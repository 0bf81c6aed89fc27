package mail_test

import "fmt"

func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s", v, v, v, v)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
