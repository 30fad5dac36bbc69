-- wrk script: send HEAD instead of GET (blob HEAD scenario of bench/run.sh).
wrk.method = "HEAD"
