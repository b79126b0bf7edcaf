"""Game days: schedules of experiments run unattended, and the report the team reads.

Pure: ``fires`` (cron in an IANA zone, DST rules), ``decide`` (skips, admission, blackouts,
suspendAfter; the error-budget gate is ``chaos.slo.budget``, shared with runs), ``targets`` (global
exclusion keys), ``outcome`` (verdict, resilience score), ``report`` (Markdown/HTML),
``incluster`` (CronJob & co.), ``loading`` (GameDay files). I/O: ``runner`` (the engine),
``service`` (the scheduler), ``notify`` (webhooks), ``metrics``. See docs/gamedays.md.
"""
