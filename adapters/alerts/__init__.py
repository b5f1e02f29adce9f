"""Alert delivery adapters: apprise (e-mail, Slack, Telegram, Discord, JSON webhooks, ~100 more)."""

from adapters.alerts.apprise_sink import AppriseAlertSink, ChannelRoute, parse_alert_urls, scrub

__all__ = ["AppriseAlertSink", "ChannelRoute", "parse_alert_urls", "scrub"]
