#!/usr/bin/env bash
# Print the Debian archive this machine's apt uses (its sources.list or
# deb822 .sources files), so lab images and guests use the same mirror as
# the host: a user behind a corporate mirror gets that mirror, not a default.
# DEBIAN_MIRROR, when set, wins. The security archive is never chosen.
set -euo pipefail

if [ -n "${DEBIAN_MIRROR:-}" ]; then
  echo "$DEBIAN_MIRROR"; exit 0
fi

# One-line format: "deb [options] URI SUITE COMPONENTS..."
one_line() {
  sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$@" 2>/dev/null |
    awk '$1 == "deb" && $3 !~ /-security$/ && $2 !~ /security/ { print $2; exit }'
}

# deb822 format: stanzas of "Field: value" lines separated by blank lines.
deb822() {
  awk '
    function flush() {
      if (types ~ /(^| )deb( |$)/ && uris != "" && suites !~ /-security/ && uris !~ /security/ && enabled != "no") {
        split(uris, u, " "); print u[1]; found = 1; exit
      }
      types = ""; uris = ""; suites = ""; enabled = ""
    }
    FNR == 1 { flush() }
    /^[[:space:]]*#/ { next }
    /^[[:space:]]*$/ { flush(); next }
    tolower($1) == "types:"   { sub(/^[^:]*:[[:space:]]*/, ""); types = $0 }
    tolower($1) == "uris:"    { sub(/^[^:]*:[[:space:]]*/, ""); uris = $0 }
    tolower($1) == "suites:"  { sub(/^[^:]*:[[:space:]]*/, ""); suites = $0 }
    tolower($1) == "enabled:" { sub(/^[^:]*:[[:space:]]*/, ""); enabled = tolower($0) }
    END { if (!found) flush() }
  ' "$@" 2>/dev/null
}

mirror=""
shopt -s nullglob
lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
sources=(/etc/apt/sources.list.d/*.sources)
[ ${#lists[@]} -gt 0 ] && mirror=$(one_line "${lists[@]}" || true)
[ -z "$mirror" ] && [ ${#sources[@]} -gt 0 ] && mirror=$(deb822 "${sources[@]}" || true)
if [ -z "$mirror" ]; then
  echo "debian-mirror.sh: no Debian archive found in /etc/apt/sources.list(.d); set DEBIAN_MIRROR" >&2
  exit 1
fi
echo "${mirror%/}"
