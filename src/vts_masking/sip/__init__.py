"""SIP without sessions: messages, transactions, dialogs and SDP as sans-I/O state machines
(``message``, ``transaction``, ``dialog``, ``sdp``), plus the one asyncio layer that owns the
sockets and timers (``transport``). Nothing here knows about masking sessions; the B2BUA
that uses it lives in ``vts_masking.calls.b2bua``.
"""
