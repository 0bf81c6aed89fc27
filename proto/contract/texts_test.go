package contract

import (
	"reflect"
	"regexp"
	"testing"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// Every text has an English template whose placeholders are plain names,
// so hosts can map them to their catalogue's template variables.
func TestTextsHaveTemplates(t *testing.T) {
	t.Parallel()
	name := regexp.MustCompile(`^\{[a-z_]+\}$`)
	all := Texts()
	if len(all) < 40 {
		t.Fatalf("only %d texts; the catalogue lost some", len(all))
	}
	for id, tmpl := range all {
		if tmpl == "" || id == "" {
			t.Errorf("%q: empty id or template", id)
		}
		for _, p := range placeholder.FindAllString(tmpl, -1) {
			if !name.MatchString(p) {
				t.Errorf("%s: placeholder %s is not a plain name", id, p)
			}
		}
	}
	for unit, ids := range NumberTexts {
		for _, id := range ids {
			if _, ok := all[id]; !ok {
				t.Errorf("number text %s (unit %q) has no template", id, unit)
			}
		}
	}
}

func TestSayFillsTheTemplate(t *testing.T) {
	t.Parallel()
	got := Say(TextSettingOption, "field", "Fail mode", "options", "closed, open")
	if want := "Fail mode must be one of closed, open."; got.English() != want {
		t.Errorf("English() = %q, want %q", got.English(), want)
	}
	if unknown := (Text{ID: "no.such.text"}).English(); unknown != "no.such.text" {
		t.Errorf("an unknown id renders %q, want the id", unknown)
	}
	if got := Fill("{a} and {b}", map[string]string{"a": "{b}"}); got != "{b} and {b}" {
		t.Errorf("Fill replaced inside a value: %q", got)
	}
}

// An error's Text crosses the boundary in the ErrorInfo's metadata.
func TestErrorTextCrossesTheBoundary(t *testing.T) {
	t.Parallel()
	in := Say(TextSettingContactLength, "field", "Who unlocks", "max", "200")
	e := fromStatusOnly(statusErrorText(ReasonPermission, "refused", in))
	if e.Reason != ReasonPermission || e.Message != "refused" || !reflect.DeepEqual(e.Text, in) {
		t.Errorf("got %+v, want reason %s, message refused, text %+v", e, ReasonPermission, in)
	}
	if e := fromStatusOnly(statusError(ReasonInternal, "x")); e.Text.ID != "" || e.Text.Args != nil {
		t.Errorf("an error without a text came back with %+v", e.Text)
	}
}

// The Go enums are the proto's, value for value.
func TestEnumsMatchTheProto(t *testing.T) {
	t.Parallel()
	reqs := duov1.Requirement(0).Descriptor().Values()
	for i := range reqs.Len() {
		v := reqs.Get(i)
		r := Requirement(v.Number())
		if (r.String() == "unspecified") != (v.Number() == 0) {
			t.Errorf("proto %s has no Go requirement", v.Name())
		}
	}
	if reqs.Len() != int(RequirementExempt)+1 {
		t.Errorf("proto has %d requirements, Go %d", reqs.Len(), int(RequirementExempt)+1)
	}
	if n := duov1.ExportFormat(0).Descriptor().Values().Len(); n != int(ExportJSONLines)+1 {
		t.Errorf("proto has %d export formats, Go %d", n, int(ExportJSONLines)+1)
	}
	if duov1.ExportFormat_EXPORT_FORMAT_CSV != duov1.ExportFormat(ExportCSV) || duov1.ExportFormat_EXPORT_FORMAT_JSON_LINES != duov1.ExportFormat(ExportJSONLines) {
		t.Error("export formats are numbered differently")
	}
}
