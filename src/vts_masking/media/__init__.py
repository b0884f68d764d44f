"""media: the service in the media path — G.711, RTP, the relay, prompts, recording, DTMF.

Knows legs, packets and audio; nothing of sessions or SIP (the calls engine turns SDP into
the plain addresses/ports/payload types used here). The pieces:

- :mod:`.g711` — µ-law/A-law tables (bit-exact with the ITU reference), vectorised coding;
- :mod:`.rtp` — RTP and RFC 4733 telephone-event parse/build, seq/ts arithmetic;
- :mod:`.dtmf` — digits from telephone-events and SIP INFO; the sans-I/O PIN collector;
- :mod:`.relay` — ``PortAllocator`` and ``RelayedCall`` (two legs: latching, bridging,
  PCMU↔PCMA transcoding, prompts, DTMF, taps, recording, inactivity, port release);
- :mod:`.recorder` — both directions mixed into one WAV/MP3, aligned by RTP timestamps;
- :mod:`.prompt` — fetch (size/time limits, cache, revalidation), decode, resample, frame.

A call, as the calls engine drives it::

    relay = RelayedCall(allocator, on_dtmf=..., on_inactive=...)
    host, port = relay.a.local_address          # into the SDP answered to the caller
    relay.a.set_remote(ip, port, pt, telephone_event_pt=101)   # from the caller's SDP
    prompt = await fetcher.load(url)            # None: skip it, the call goes on
    if prompt:
        await relay.play("A", prompt.frames(relay.a.codec))
    pin = await relay.collect("A", PinCollector(max_length=6))
    relay.bridge(); relay.start_recording(path, "mp3")
    result = await relay.stop_recording(); relay.close()
"""
