"""`esup console`: the web console of the correction loop (server-rendered pages for clerks and supervisors)."""
