"""Phase 1, clips: the real recordings and synthetic wake words, adversarial phrases, negative speech and sounds a
project trains on, as 16 kHz clips. ``phase.run_clip_phase`` drives :class:`generator.ClipGenerator`; ``tts_jobs``
plans each synthesised clip, ``synthesis`` runs the plans, ``phrases``/``home_talk``/``sounds`` supply the texts
and sounds.

Layout under ``clips/``::

    positive/real_0003.wav     one per real recording (map kept in clips/real_sources.json)
    positive/synth_00042.wav   Piper / espeak-ng speaking the wake word
    negative/adv_00012.wav     pieces of the wake word, "hey <word>", ordinary speech (same voices)
    negative/audio_00007.wav   random pieces of negative audio folders, when there are any
    negative/noise_0001.wav    coloured noise and near-silence (works offline)
    negative_speech/speech_00003.wav  20-30 s passages of ordinary speech, word pieces and
                               "hey <word>" sequences in every voice (embedded as streams)

Clip ``i`` of each kind depends only on (seed, i): a resumed run writes the same clips an
uninterrupted one would, keeps finished files and fills in the missing ones.
"""
