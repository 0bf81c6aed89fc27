package contract

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// The drift test: every message of duo.proto has a Go type of the same
// name and a converter each way, every proto field survives proto → Go →
// proto, every Go field survives Go → proto → Go, and each Go field lands
// in the proto field of the same name. Adding a field on one side only, or
// mapping it to the wrong field, fails here.

type converterPair struct {
	goType    reflect.Type
	protoName protoreflect.Name
	toProto   func(any) proto.Message
	fromProto func(proto.Message) any
	newProto  func() proto.Message
}

func pairOf[G any, P proto.Message](to func(G) P, from func(P) G) converterPair {
	var p P
	return converterPair{
		goType:    reflect.TypeFor[G](),
		protoName: p.ProtoReflect().Descriptor().Name(),
		toProto:   func(v any) proto.Message { return to(v.(G)) },
		fromProto: func(m proto.Message) any { return from(m.(P)) },
		newProto:  func() proto.Message { return p.ProtoReflect().New().Interface() },
	}
}

var converters = []converterPair{
	pairOf(toprotoActor, fromprotoActor),
	pairOf(toprotoOperator, fromprotoOperator),
	pairOf(toprotoHostInfo, fromprotoHostInfo),
	pairOf(toprotoClientInfo, fromprotoClientInfo),
	pairOf(toprotoActivateRequest, fromprotoActivateRequest),
	pairOf(toprotoActivateResponse, fromprotoActivateResponse),
	pairOf(toprotoDeactivateRequest, fromprotoDeactivateRequest),
	pairOf(toprotoDeactivateResponse, fromprotoDeactivateResponse),
	pairOf(toprotoUninstallRequest, fromprotoUninstallRequest),
	pairOf(toprotoUninstallResponse, fromprotoUninstallResponse),
	pairOf(toprotoStatusRequest, fromprotoStatusRequest),
	pairOf(toprotoDuoHealth, fromprotoDuoHealth),
	pairOf(toprotoStatusResponse, fromprotoStatusResponse),
	pairOf(toprotoGetSettingsRequest, fromprotoGetSettingsRequest),
	pairOf(toprotoGetSettingsResponse, fromprotoGetSettingsResponse),
	pairOf(toprotoUpdateSettingsRequest, fromprotoUpdateSettingsRequest),
	pairOf(toprotoFieldError, fromprotoFieldError),
	pairOf(toprotoUpdateSettingsResponse, fromprotoUpdateSettingsResponse),
	pairOf(toprotoCheckDuoRequest, fromprotoCheckDuoRequest),
	pairOf(toprotoCheckDuoResponse, fromprotoCheckDuoResponse),
	pairOf(toprotoOperatorState, fromprotoOperatorState),
	pairOf(toprotoSetOperatorEnabledRequest, fromprotoSetOperatorEnabledRequest),
	pairOf(toprotoSetOperatorEnabledResponse, fromprotoSetOperatorEnabledResponse),
	pairOf(toprotoGetOperatorStatesRequest, fromprotoGetOperatorStatesRequest),
	pairOf(toprotoGetOperatorStatesResponse, fromprotoGetOperatorStatesResponse),
	pairOf(toprotoListEnabledOperatorsRequest, fromprotoListEnabledOperatorsRequest),
	pairOf(toprotoListEnabledOperatorsResponse, fromprotoListEnabledOperatorsResponse),
	pairOf(toprotoSetOperatorAliasRequest, fromprotoSetOperatorAliasRequest),
	pairOf(toprotoSetOperatorAliasResponse, fromprotoSetOperatorAliasResponse),
	pairOf(toprotoBeginLoginRequest, fromprotoBeginLoginRequest),
	pairOf(toprotoBeginLoginResponse, fromprotoBeginLoginResponse),
	pairOf(toprotoCompleteLoginRequest, fromprotoCompleteLoginRequest),
	pairOf(toprotoCompleteLoginResponse, fromprotoCompleteLoginResponse),
	pairOf(toprotoConfirmBackupCodesRequest, fromprotoConfirmBackupCodesRequest),
	pairOf(toprotoRedeemCodeRequest, fromprotoRedeemCodeRequest),
	pairOf(toprotoRegenerateBackupCodesRequest, fromprotoRegenerateBackupCodesRequest),
	pairOf(toprotoRegenerateBackupCodesResponse, fromprotoRegenerateBackupCodesResponse),
	pairOf(toprotoBypassCode, fromprotoBypassCode),
	pairOf(toprotoIssueBypassCodeRequest, fromprotoIssueBypassCodeRequest),
	pairOf(toprotoIssueBypassCodeResponse, fromprotoIssueBypassCodeResponse),
	pairOf(toprotoListBypassCodesRequest, fromprotoListBypassCodesRequest),
	pairOf(toprotoListBypassCodesResponse, fromprotoListBypassCodesResponse),
	pairOf(toprotoRevokeBypassCodeRequest, fromprotoRevokeBypassCodeRequest),
	pairOf(toprotoRevokeBypassCodeResponse, fromprotoRevokeBypassCodeResponse),
	pairOf(toprotoCreateRecoveryLinkRequest, fromprotoCreateRecoveryLinkRequest),
	pairOf(toprotoCreateRecoveryLinkResponse, fromprotoCreateRecoveryLinkResponse),
	pairOf(toprotoRedeemRecoveryLinkRequest, fromprotoRedeemRecoveryLinkRequest),
	pairOf(toprotoNotice, fromprotoNotice),
	pairOf(toprotoListNoticesRequest, fromprotoListNoticesRequest),
	pairOf(toprotoListNoticesResponse, fromprotoListNoticesResponse),
	pairOf(toprotoText, fromprotoText),
	pairOf(toprotoLoginCounts, fromprotoLoginCounts),
	pairOf(toprotoUnlockOperatorRequest, fromprotoUnlockOperatorRequest),
	pairOf(toprotoUnlockOperatorResponse, fromprotoUnlockOperatorResponse),
	pairOf(toprotoAuthEvent, fromprotoAuthEvent),
	pairOf(toprotoAuthEventFilter, fromprotoAuthEventFilter),
	pairOf(toprotoListAuthEventsRequest, fromprotoListAuthEventsRequest),
	pairOf(toprotoListAuthEventsResponse, fromprotoListAuthEventsResponse),
	pairOf(toprotoExportAuthEventsRequest, fromprotoExportAuthEventsRequest),
	pairOf(toprotoExportChunk, fromprotoExportChunk),
	pairOf(toprotoGetMetricsRequest, fromprotoGetMetricsRequest),
	pairOf(toprotoGetMetricsResponse, fromprotoGetMetricsResponse),
}

func TestEveryProtoMessageHasGoTypeAndConverters(t *testing.T) {
	t.Parallel()
	have := map[protoreflect.Name]converterPair{}
	for _, c := range converters {
		if string(c.protoName) != c.goType.Name() {
			t.Errorf("converter pair maps Go %s to proto %s: names must match", c.goType.Name(), c.protoName)
		}
		have[c.protoName] = c
	}
	msgs := duov1.File_duo_v1_duo_proto.Messages()
	for i := range msgs.Len() {
		name := msgs.Get(i).Name()
		if _, ok := have[name]; !ok {
			t.Errorf("proto message %s has no Go type with converters in package contract", name)
		}
	}
	if len(have) != msgs.Len() {
		t.Errorf("%d converter pairs for %d proto messages", len(have), msgs.Len())
	}
}

func TestEveryProtoFieldSurvivesTheRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range converters {
		t.Run(string(c.protoName), func(t *testing.T) {
			t.Parallel()
			in := c.newProto()
			fillProto(t, in.ProtoReflect(), new(int))
			out := c.toProto(c.fromProto(in))
			if !proto.Equal(in, out) {
				t.Fatalf("proto → Go → proto lost something:\n in: %v\nout: %v", in, out)
			}
		})
	}
}

func TestEveryGoFieldSurvivesTheRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range converters {
		t.Run(c.goType.Name(), func(t *testing.T) {
			t.Parallel()
			in := reflect.New(c.goType).Elem()
			fillGo(in, new(int))
			m := c.toProto(in.Interface())
			if got := c.fromProto(m); !reflect.DeepEqual(got, in.Interface()) {
				t.Fatalf("Go → proto → Go lost something:\n in: %+v\nout: %+v", in.Interface(), got)
			}
			checkSameNames(t, c.goType.Name(), in, m.ProtoReflect())
		})
	}
}

// TestEveryDecisionMapsBothWays: decisions travel as their number, so the
// Go constants and the proto enum must agree number for number and name
// for name. A new enum value in the proto without a Go constant would fall
// back to DecisionUnspecified here; a Go constant without a proto value, or
// two constants swapped, would show as a name that differs.
func TestEveryDecisionMapsBothWays(t *testing.T) {
	t.Parallel()
	vals := duov1.LoginDecision(0).Descriptor().Values()
	for i := range vals.Len() {
		v := vals.Get(i)
		wire := duov1.LoginDecision(v.Number())
		goVal := fromprotoLoginDecision(wire)
		if back := toprotoLoginDecision(goVal); back != wire {
			t.Errorf("%s → %s → %s", wire, goVal, back)
		}
		if wire != 0 && goVal == DecisionUnspecified {
			t.Errorf("%s has no Go decision", wire)
		}
		if want := strings.ToLower(strings.TrimPrefix(string(v.Name()), "LOGIN_DECISION_")); goVal.String() != want {
			t.Errorf("%s arrives as %s, want the decision named %q", wire, goVal, want)
		}
	}
	for d := DecisionUnspecified; d.known(); d++ {
		if vals.ByNumber(protoreflect.EnumNumber(d)) == nil {
			t.Errorf("Go decision %s (%d) has no proto value", d, int(d))
		}
	}
	for _, unknown := range []duov1.LoginDecision{-1, duov1.LoginDecision(vals.Len()), 99} {
		if got := fromprotoLoginDecision(unknown); got != DecisionUnspecified {
			t.Errorf("unknown wire decision %d → %s, want unspecified (deny)", unknown, got)
		}
	}
	for _, unknown := range []LoginDecision{-1, DecisionConfirmBackupCodes + 1, 99} {
		if got := toprotoLoginDecision(unknown); got != duov1.LoginDecision_LOGIN_DECISION_UNSPECIFIED {
			t.Errorf("unknown Go decision %d → %s, want unspecified (deny)", int(unknown), got)
		}
	}
}

// LoginDecision's names are what hosts log; every decision has its own.
func TestLoginDecisionString(t *testing.T) {
	t.Parallel()
	want := map[LoginDecision]string{
		DecisionUnspecified: "unspecified", DecisionNotRequired: "not_required", DecisionRedirect: "redirect",
		DecisionDenied: "denied", DecisionAllowed: "allowed", DecisionConfirmBackupCodes: "confirm_backup_codes",
		LoginDecision(9): "decision(9)", LoginDecision(-1): "decision(-1)",
	}
	for d := DecisionUnspecified; d.known(); d++ {
		if _, ok := want[d]; !ok {
			t.Errorf("decision %d (%s) is not in this test", int(d), d)
		}
	}
	for d, s := range want {
		if d.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(d), d.String(), s)
		}
	}
}

// Roles travel as their number: every proto role must have a Go constant
// of the same meaning.
func TestEveryRoleHasAGoConstant(t *testing.T) {
	t.Parallel()
	vals := duov1.Role(0).Descriptor().Values()
	for i := range vals.Len() {
		v := vals.Get(i)
		want := strings.ToLower(strings.TrimPrefix(string(v.Name()), "ROLE_"))
		if got := Role(v.Number()).String(); got != want {
			t.Errorf("proto %s is Go %q, want %q", v.Name(), got, want)
		}
	}
}

// normalize makes Go and proto field names comparable: CallbackURL and
// callback_url, CheckedAt and checked_at_unix, OperatorIDs and operator_ids.
func normalize(name string) string {
	n := strings.ToLower(strings.ReplaceAll(name, "_", ""))
	return strings.TrimSuffix(n, "unix")
}

// checkSameNames checks that each Go field's value sits in the proto field
// of the same name.
func checkSameNames(t *testing.T, where string, gv reflect.Value, m protoreflect.Message) {
	t.Helper()
	fields := m.Descriptor().Fields()
	byName := map[string]protoreflect.FieldDescriptor{}
	for i := range fields.Len() {
		byName[normalize(string(fields.Get(i).Name()))] = fields.Get(i)
	}
	if gv.NumField() != fields.Len() {
		t.Errorf("%s: Go has %d fields, proto has %d", where, gv.NumField(), fields.Len())
	}
	for i := range gv.NumField() {
		sf := gv.Type().Field(i)
		fd, ok := byName[normalize(sf.Name)]
		unit := time.Duration(0)
		if !ok && sf.Type == reflect.TypeFor[time.Duration]() {
			// A duration travels as a count of the unit its proto name ends with.
			if fd, ok = byName[normalize(sf.Name)+"ms"]; ok {
				unit = time.Millisecond
			} else if fd, ok = byName[normalize(sf.Name)+"seconds"]; ok {
				unit = time.Second
			}
		}
		if !ok {
			t.Errorf("%s.%s has no proto field of the same name", where, sf.Name)
			continue
		}
		fv := gv.Field(i)
		pv := m.Get(fd)
		switch {
		case fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap():
			checkSameNames(t, where+"."+sf.Name, fv, pv.Message())
		case fd.IsMap():
			if fv.Len() != pv.Map().Len() {
				t.Errorf("%s.%s: Go has %d entries, proto field %s has %d", where, sf.Name, fv.Len(), fd.Name(), pv.Map().Len())
			}
		case fd.Kind() == protoreflect.BytesKind:
			if got := pv.Bytes(); !bytes.Equal(got, fv.Bytes()) {
				t.Errorf("%s.%s = %q lands in %s as %q", where, sf.Name, fv.Bytes(), fd.Name(), got)
			}
		case fd.IsList():
			if fv.Len() != pv.List().Len() {
				t.Errorf("%s.%s: Go has %d elements, proto field %s has %d", where, sf.Name, fv.Len(), fd.Name(), pv.List().Len())
			}
		case unit != 0:
			if got := pv.Int(); got != int64(fv.Interface().(time.Duration)/unit) {
				t.Errorf("%s.%s = %v lands in %s as %d", where, sf.Name, fv.Interface(), fd.Name(), got)
			}
		case fv.Type() == reflect.TypeFor[time.Time]():
			if got := pv.Int(); got != fv.Interface().(time.Time).Unix() {
				t.Errorf("%s.%s = %v lands in %s as %d", where, sf.Name, fv.Interface(), fd.Name(), got)
			}
		case fd.Kind() == protoreflect.EnumKind:
			// Checked by TestEveryDecisionMapsBothWays.
		case fd.Kind() == protoreflect.StringKind:
			if got := pv.String(); got != fv.String() {
				t.Errorf("%s.%s = %q lands in %s as %q", where, sf.Name, fv.String(), fd.Name(), got)
			}
		case fd.Kind() == protoreflect.BoolKind:
			if got := pv.Bool(); got != fv.Bool() {
				t.Errorf("%s.%s = %t lands in %s as %t", where, sf.Name, fv.Bool(), fd.Name(), got)
			}
		case fd.Kind() == protoreflect.Uint32Kind:
			if got := pv.Uint(); got != fv.Uint() {
				t.Errorf("%s.%s = %d lands in %s as %d", where, sf.Name, fv.Uint(), fd.Name(), got)
			}
		default:
			if got := pv.Int(); got != fv.Int() {
				t.Errorf("%s.%s = %d lands in %s as %d", where, sf.Name, fv.Int(), fd.Name(), got)
			}
		}
	}
}

// fillGo sets every field of v to a distinct non-zero value.
func fillGo(v reflect.Value, n *int) {
	*n++
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Unix(int64(1_700_000_000+*n*1000), 0).UTC()))
		return
	case v.Type() == reflect.TypeFor[time.Duration]():
		v.Set(reflect.ValueOf(time.Duration(*n) * time.Second))
		return
	case v.Type() == reflect.TypeFor[[]byte]():
		v.SetBytes(fmt.Appendf(nil, "bytes-%d", *n))
		return
	case v.Type() == reflect.TypeFor[LoginDecision]():
		v.Set(reflect.ValueOf(DecisionDenied))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fillGo(v.Field(i), n)
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", v.Type().Name(), *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(int64(*n))
	case reflect.Uint32:
		v.SetUint(uint64(*n))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fillGo(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillGo(k, n)
			fillGo(e, n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		panic("fillGo: unhandled kind " + v.Kind().String())
	}
}

// fillProto sets every field of m to a distinct non-default value.
func fillProto(t *testing.T, m protoreflect.Message, n *int) {
	t.Helper()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range 2 {
				if fd.Kind() == protoreflect.MessageKind {
					e := l.NewElement()
					fillProto(t, e.Message(), n)
					l.Append(e)
				} else {
					l.Append(scalar(t, fd, n))
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range 2 {
				mp.Set(scalar(t, fd.MapKey(), n).MapKey(), scalar(t, fd.MapValue(), n))
			}
		case fd.Kind() == protoreflect.MessageKind:
			fillProto(t, m.Mutable(fd).Message(), n)
		default:
			m.Set(fd, scalar(t, fd, n))
		}
	}
}

func scalar(t *testing.T, fd protoreflect.FieldDescriptor, n *int) protoreflect.Value {
	t.Helper()
	*n++
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d", fd.Name(), *n))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(*n))
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(int64(1_700_000_000 + *n*1000))
	case protoreflect.Uint32Kind:
		return protoreflect.ValueOfUint32(uint32(*n))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(fmt.Appendf(nil, "%s-%d", fd.Name(), *n))
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1).Number())
	}
	t.Fatalf("scalar: unhandled kind %s of %s", fd.Kind(), fd.FullName())
	return protoreflect.Value{}
}
