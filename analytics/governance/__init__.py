"""The release-process audit and what is read from it, bottom-up: ``checks`` (the per-area checks
before production), ``findings`` (the finding codes and when they are raised), ``audit``
(``audit_releases``), ``health`` (monthly process health), ``path`` (required vs happened of one
release) and ``risk`` (risk attribution)."""
