#!/usr/bin/env bash
# Checks that Tools/setup/setup.sh takes its install path correctly as root and through sudo, on a
# machine where nothing is installed: pkg-config, dpkg and the header checks are shimmed to say
# "missing", apt-get and sudo are shimmed to record what they were asked. Catches, e.g., an empty
# $SUDO turning `$SUDO VAR=value apt-get` into a command named VAR=value.
set -euo pipefail
cd "$(dirname "$0")/../.."
shims=$(mktemp -d); trap 'rm -rf "$shims"' EXIT
log="$shims/calls.log"
cat > "$shims/pkg-config" <<'S'
#!/bin/sh
exit 1
S
cat > "$shims/dpkg" <<'S'
#!/bin/sh
exit 1
S
cat > "$shims/apt-get" <<S
#!/bin/sh
echo "apt-get \$*" >> "$log"
S
cat > "$shims/sudo" <<S
#!/bin/sh
echo "sudo \$1" >> "$log"
exec "\$@"
S
for uid in 0 1000; do
  cat > "$shims/id" <<S
#!/bin/sh
echo $uid
S
  chmod +x "$shims"/*
  : > "$log"
  # the header checks of setup.sh look in /usr/include: point them at an empty root
  PATH="$shims:$PATH" SCALPEL_SETUP_INCLUDE="$shims/include" bash Tools/setup/setup.sh > "$shims/out.txt" 2>&1 || { cat "$shims/out.txt"; echo "setup.sh failed as uid $uid"; exit 1; }
  grep -q "apt-get install -y -qq libopenblas-dev pkg-config libpng-dev libjpeg-dev libicu-dev libdnnl-dev" "$log" || { cat "$log" "$shims/out.txt"; echo "setup.sh (uid $uid) did not install the libraries"; exit 1; }
  if [ $uid -eq 0 ] && grep -q '^sudo' "$log"; then echo "setup.sh used sudo as root"; exit 1; fi
  if [ $uid -ne 0 ] && ! grep -q '^sudo env' "$log"; then cat "$log"; echo "setup.sh did not use sudo as uid $uid"; exit 1; fi
  if grep -q "command not found" "$shims/out.txt"; then cat "$shims/out.txt"; exit 1; fi
done
echo "setup.sh check: installs as root (no sudo) and as a user (through sudo)"
