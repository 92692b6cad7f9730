"""`make stack`: the production shape on one machine (HAProxy, two app nodes, the push worker,
the platform emulator), started in the background and stopped again; `miniapp stack --help`."""
