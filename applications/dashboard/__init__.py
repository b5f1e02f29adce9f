"""The dashboard composition root: a Panel app that replays and tails the event log.

``viewmodel`` holds the pure functions (events -> what each panel shows), ``charts`` the
hvplot/HoloViews figures, ``app`` the Panel session, the shared event cache, the
authentication rules and the server; ``sensequant dashboard`` starts it.
"""
