"""Audio: files, microphone recording and take checks, text to speech, live detection and household tests."""
