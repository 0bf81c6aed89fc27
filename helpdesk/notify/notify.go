// Package notify tells operators when their second factor changes: it
// pages through the Duo plugin's notices (ListNotices) and mails each
// operator concerned, remembering how far it got in the helpdesk's
// database (OWASP ASVS: notify users of authenticator changes).
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/mail"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/internal/defaults"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Store is what the poller reads and keeps in the helpdesk's database.
type Store interface {
	OperatorByID(ctx context.Context, id int64) (store.Operator, error)
	NoticeCursor(ctx context.Context) (int64, error)
	AdvanceNoticeCursor(ctx context.Context, from, to int64) error
}

// Plugins is where the poller finds the plugin: *plugins.Manager.
type Plugins interface {
	Active(ctx context.Context) (bool, error)
	// Ready is the plugin brought to the helpdesk's record.
	Ready(ctx context.Context) (plugins.Plugin, error)
}

// Poller mails operators about changes of their second factor.
type Poller struct {
	Plugins  Plugins
	Store    Store
	Mail     mail.Sender
	Site     string
	Log      *slog.Logger
	Interval time.Duration // between polls; default 10s
	Timeout  time.Duration // bounds one poll; default 30s
	// Lease, if set, reports whether this instance may poll now: with
	// several instances sharing the database, the one holding the
	// notices' lease (store.TakeLease, for longer than Timeout) polls and
	// the others skip, so that no notice is mailed twice. Nil: always.
	Lease func(ctx context.Context) (bool, error)
}

// actor is who asks for the notices: the helpdesk itself.
var actor = contract.Actor{ID: "helpdesk", Username: "helpdesk (second-factor notices)", Role: contract.RoleSystem}

// Run polls every Interval until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	defaults.Set(&p.Interval, 10*time.Second)
	defaults.Set(&p.Timeout, 30*time.Second)
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, p.Timeout)
		if n, err := p.Once(pctx); err != nil && ctx.Err() == nil {
			p.Log.Warn("second-factor notices: will try again", "sent", n, "error", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once mails every notice not yet mailed and returns how many it sent. It
// moves the cursor past each notice once it is handled, so that a failure
// is retried from that notice and none is mailed twice by one poller. The
// cursor moves only from where this poll found it: if an uninstall reset
// it meanwhile (store.ErrCursorMoved), the poll stops, and the next one
// starts from the reinstalled plugin's first notice.
func (p *Poller) Once(ctx context.Context) (int, error) {
	if active, err := p.Plugins.Active(ctx); err != nil || !active {
		return 0, err
	}
	if p.Lease != nil {
		// Several instances on one database: one mails at a time, so that
		// none mails a notice another is mailing.
		if held, err := p.Lease(ctx); err != nil || !held {
			return 0, err
		}
	}
	pl, err := p.Plugins.Ready(ctx)
	if err != nil {
		return 0, err
	}
	after, err := p.Store.NoticeCursor(ctx)
	if err != nil {
		return 0, err
	}
	sent := 0
	for {
		res, err := pl.ListNotices(ctx, contract.ListNoticesRequest{AfterID: after, Limit: 100, Actor: actor})
		if err != nil {
			return sent, fmt.Errorf("list notices: %w", err)
		}
		if len(res.Notices) == 0 {
			return sent, nil
		}
		for _, n := range res.Notices {
			ok, err := p.notify(ctx, n)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
			if err := p.Store.AdvanceNoticeCursor(ctx, after, n.ID); err != nil {
				return sent, err
			}
			after = n.ID
		}
	}
}

// notify mails one notice; an operator who is gone or has no address is
// skipped (logged), since no retry would reach them.
func (p *Poller) notify(ctx context.Context, n contract.Notice) (bool, error) {
	id, err := strconv.ParseInt(n.OperatorID, 10, 64)
	if err != nil {
		p.Log.Warn("second-factor notice for an operator id the helpdesk does not use", "operator_id", n.OperatorID, "kind", string(n.Kind))
		return false, nil
	}
	op, err := p.Store.OperatorByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && op.Email == "") {
		p.Log.Info("second-factor notice not mailed: no such operator or no address", "operator_id", id, "kind", string(n.Kind))
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := p.Mail.Send(ctx, Message(p.Site, op, n)); err != nil {
		if errors.Is(err, mail.ErrInvalidMessage) {
			p.Log.Warn("second-factor notice not mailed: invalid address", "operator_id", id)
			return false, nil
		}
		return false, fmt.Errorf("mail notice %d: %w", n.ID, err)
	}
	p.Log.Info("second-factor notice mailed", "operator_id", id, "kind", string(n.Kind))
	return true, nil
}

// what says what happened, for the operator.
var what = map[contract.NoticeKind]string{
	contract.NoticeDuoEnabled:             "Duo two-factor authentication was turned on for your account",
	contract.NoticeDuoDisabled:            "Duo two-factor authentication was turned off for your account",
	contract.NoticeDuoEnrolled:            "Duo was set up for your account",
	contract.NoticeSecondFactorReset:      "your two-factor authentication was reset with a recovery link",
	contract.NoticeBackupCodesIssued:      "backup codes were issued for your account",
	contract.NoticeBackupCodesRegenerated: "a new set of backup codes was made for your account; the old ones no longer work",
	contract.NoticeBackupCodeUsed:         "one of your backup codes was used to sign in",
	contract.NoticeBypassCodeIssued:       "a bypass code was issued for your account",
	contract.NoticeBypassCodeUsed:         "a bypass code was used to sign in to your account",
	contract.NoticeRecoveryLinkCreated:    "a recovery link was sent for your account",
}

// Message is the mail for one notice.
func Message(site string, op store.Operator, n contract.Notice) mail.Message {
	happened, ok := what[n.Kind]
	if !ok {
		happened = "your two-factor authentication changed (" + string(n.Kind) + ")"
	}
	by := ""
	if n.Actor != "" {
		by = " by " + n.Actor
	}
	return mail.Message{
		To:      op.Email,
		Subject: site + ": your two-factor authentication changed",
		Text: "Hello " + op.Username + ",\n\n" +
			"On " + n.At.UTC().Format("2 Jan 2006 at 15:04 MST") + ", " + happened + by + ".\n\n" +
			"If this was not you or someone you expected, tell your administrator at once.\n",
	}
}
