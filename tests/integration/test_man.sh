#!/bin/bash
#
# test_man.sh -- the manual pages: clean under "groff -man -ww -z" and
# "mandoc -Tlint" (no output at all), and in agreement with --help: the
# same synopsis, the same options, commands, drain options and exit
# statuses, and the same defaults.
. "$(dirname "$0")/lib.sh"

PAGES="hotreloadd.8 hotreloadctl.1 hotreloadd.conf.5"

for tool in groff mandoc col; do
	command -v "$tool" >/dev/null ||
		fatal "$tool is missing (scripts/install-deps installs it)"
done

# Lint.
for page in $PAGES; do
	run groff -man -ww -z "$TOP/man/$page"
	assert_rc 0 "groff -man -ww -z $page exits 0"
	assert_eq "" "$ERR$OUT" "groff -man -ww -z $page says nothing"
	run mandoc -Tlint "$TOP/man/$page"
	assert_rc 0 "mandoc -Tlint $page exits 0"
	assert_eq "" "$ERR$OUT" "mandoc -Tlint $page says nothing"
done

# The version in each page's header is the one in VERSION.
version=$(cat "$TOP/VERSION")
for page in $PAGES; do
	assert_contains "\"hotreload $version\"" "$(sed -n '/^\.TH /p' "$TOP/man/$page")" \
	    "$page: the header names hotreload $version (VERSION)"
done

# The page $1 as plain text, one paragraph a line.
render() {
	mandoc -Tascii -Owidth=400 "$TOP/man/$1" | col -b
}

# Section $2 (a heading line) of the text $1, up to the next heading.
section() {
	printf '%s\n' "$1" | awk -v h="$2" '
	    /^[A-Z]/ { inside = ($0 == h) ; next }
	    inside'
}

# The "-x, --long" pairs at the start of the lines of $1, sorted.
option_pairs() {
	printf '%s\n' "$1" | sed -n 's/^ *\(-[A-Za-z], --[a-z-]*\).*/\1/p' |
	    sort -u
}

# A synopsis as a sorted list of its words, lower case, without the name.
synopsis_words() {
	printf '%s\n' "$1" | tr '[:upper:]' '[:lower:]' | tr -s ' ' '\n' | sed 1d |
	    grep . | sort
}

# hotreloadd.
help=$("$HOTRELOADD" --help) || fail "hotreloadd --help exits 0"
page=$(render hotreloadd.8)
assert_eq "$(synopsis_words "$(printf '%s\n' "$help" | sed -n 's/^usage: //p')")" \
    "$(synopsis_words "$(section "$page" SYNOPSIS | sed 's/^ *//' | grep .)")" \
    "hotreloadd: --help and the man page have the same synopsis"
assert_eq "$(option_pairs "$help")" \
    "$(option_pairs "$(section "$page" OPTIONS)")" \
    "hotreloadd: --help and OPTIONS list the same options"
default=$(printf '%s\n' "$help" | sed -n 's/.*(default: \(.*\))$/\1/p')
assert_contains "$default" "$(section "$page" OPTIONS)" \
    "hotreloadd: the man page gives --help's default configuration file"
for sig in SIGHUP SIGTERM SIGINT; do
	assert_contains "$sig" "$(section "$page" SIGNALS)" \
	    "hotreloadd: SIGNALS covers $sig, which --help names"
done
assert_contains "socket activation" "$help" \
    "hotreloadd: --help mentions socket activation"
assert_contains "Socket activation" "$(section "$page" SYSTEMD)" \
    "hotreloadd: the man page has a Socket activation part in SYSTEMD"

# hotreloadctl.
help=$("$HOTRELOADCTL" --help) || fail "hotreloadctl --help exits 0"
page=$(render hotreloadctl.1)
assert_eq "$(synopsis_words "$(printf '%s\n' "$help" | sed -n 's/^usage: //p')")" \
    "$(synopsis_words "$(section "$page" SYNOPSIS | sed -n 's/^ *\(hotreloadctl \[.*\)/\1/p')")" \
    "hotreloadctl: --help and the man page have the same synopsis"
assert_eq "$(option_pairs "$help")" \
    "$(option_pairs "$(section "$page" OPTIONS)")" \
    "hotreloadctl: --help and OPTIONS list the same options"

# The lines under "commands:" that begin a command (two spaces, then its
# name): a synopsis too long for its column has its text on the next line,
# indented further.  The alias of resume is on its line.
help_command_lines=$(printf '%s\n' "$help" |
    awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on' | grep '^  [a-z]')

# Commands: the first word of each such line (and the alias), against the
# tags of COMMANDS ("resume, undrain" counts as two).
help_commands=$(printf '%s\n' "$help_command_lines" |
    sed -e 's/^  \([a-z-]*\).*(alias: \([a-z-]*\)).*/\1\n\2/;t' \
        -e 's/^  \([a-z-]*\).*/\1/' | sort -u)
man_commands=$(section "$page" COMMANDS |
    sed -n 's/^       \([a-z][a-z-]*\(, [a-z][a-z-]*\)*\)\( .*\)\{0,1\}$/\1/p' |
    tr -d ',' | tr ' ' '\n' | sort -u)
assert_eq "$help_commands" "$man_commands" \
    "hotreloadctl: --help and COMMANDS list the same commands"

# What the synopsis $1 of command $2 takes: its options and the services
# it names (rollback's llm|hsp), one a line, sorted.
synopsis_takes() {
	printf '%s\n' "$1" | sed "s/^[[:space:]]*$2//" |
	    grep -o -e '--[a-z-]*' -e '\<llm\>' -e '\<hsp\>' | sort
}

# Each command's synopsis, "NAME: what it takes", in --help (the text
# before the gap that starts the description) and in SYNOPSIS ("resume |
# undrain" under resume; col -b may indent with tabs).
man_synopsis=$(section "$page" SYNOPSIS)
help_takes=
man_takes=
while IFS= read -r line; do
	line=${line#  }
	name=${line%% *}
	synopsis=$(printf '%s\n' "$line" | sed 's/  .*//')
	help_takes+="$name: $(synopsis_takes "$synopsis" "$name" | tr '\n' ' ')"$'\n'
	synopsis=$(printf '%s\n' "$man_synopsis" |
	    grep -E "^[[:space:]]+$name([[:space:]]|\$)" | head -n 1)
	man_takes+="$name: $(synopsis_takes "$synopsis" "$name" | tr '\n' ' ')"$'\n'
done <<<"$help_command_lines"
assert_eq "$help_takes" "$man_takes" \
    "hotreloadctl: --help and SYNOPSIS give each command the same options"

# Each "... options:" block of --help lists what the synopsis of every
# command its heading names takes ("reload, reload-llm, reload-hsp and
# rollback options:").
while IFS= read -r heading; do
	block=$(printf '%s\n' "$help" |
	    awk -v h="$heading" '$0 == h { on = 1; next } /^$/ { on = 0 } on' |
	    sed -n 's/^  \(--[a-z-]*\).*/\1/p' | sort | tr '\n' ' ')
	for name in $(printf '%s\n' "${heading% options:}" | tr -d ',' |
	    sed 's/ and / /'); do
		assert_eq "$name: $block" "$(grep "^$name: " <<<"$help_takes" |
		    sed -E 's/ (llm|hsp)\>//g')" \
		    "hotreloadctl: --help's \"$heading\" are those of $name's synopsis"
	done
done < <(printf '%s\n' "$help" | grep -E '^[a-z].* options:$')

help_exits=$(printf '%s\n' "$help" |
    awk '/^exit status:/ { on = 1; next } /^$/ { on = 0 } on' |
    sed -n 's/^  \([0-9][0-9]*\) .*/\1/p')
man_exits=$(section "$page" "EXIT STATUS" | sed -n 's/^       \([0-9][0-9]*\) .*/\1/p')
assert_eq "$help_exits" "$man_exits" \
    "hotreloadctl: --help and EXIT STATUS list the same statuses"

timeout=$(printf '%s\n' "$help" | sed -n 's/.*(default \([0-9.]*\)).*/\1/p' | head -n 1)
assert_contains "(default $timeout)" "$(section "$page" OPTIONS)" \
    "hotreloadctl: the man page gives --help's default timeout ($timeout)"
socket=$(printf '%s\n' "$help" | sed -n 's/^ *else \(\/[^)]*\)).*/\1/p')
assert_contains "$socket" "$(section "$page" OPTIONS)" \
    "hotreloadctl: the man page gives --help's default socket ($socket)"
assert_contains "HOTRELOAD_SOCKET" "$(section "$page" ENVIRONMENT)" \
    "hotreloadctl: ENVIRONMENT has HOTRELOAD_SOCKET, which --help names"

test_done
