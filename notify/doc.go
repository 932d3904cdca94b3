// Package notify tells image owners what the rebuild pipeline did: an
// image was rebuilt and republished, a rebuild failed, a rebuilt image was
// not published, or an image's health grade is about to drop.
//
// Notifier is the extension point. Every implementation receives the
// events of one run as a batch:
//
//   - Email sends one message per owner per run over SMTP (STARTTLS or
//     implicit TLS, PLAIN or LOGIN auth) with a text and an HTML part
//     rendered from replaceable templates, via github.com/wneessen/go-mail.
//   - Webhook POSTs the batch as JSON, signed with HMAC-SHA256 in the
//     X-Openabs-Signature-256 header, with retries, backoff and a timeout.
//   - Log writes structured log/slog records.
//   - Fanout sends to several and reports every failure.
//
// Usage:
//
//	mail, err := notify.NewEmail(notify.EmailConfig{
//		Host: "smtp.example.com", Username: "abs", Password: secret.New(pw),
//		From: "openabs <abs@example.com>",
//	})
//	hook, err := notify.NewWebhook("https://hooks.example.com/abs", secret.New(key))
//	n := notify.Fanout{mail, hook, notify.NewLog(logger)}
//	err = n.Notify(ctx, events)
//
// Secrets (the SMTP password, the webhook secret) are held in Secret,
// which never prints its value, and never appear in returned errors or
// log records.
package notify
