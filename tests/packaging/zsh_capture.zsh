#!/usr/bin/env zsh
# Prints, one per line, the completions a real interactive zsh offers when `$2` is typed
# and Tab pressed, with the completion functions of directory `$1` first in $fpath.
# The zsh runs in a pseudo-terminal (zpty); compadd is wrapped to print what it adds.
# (After Valodim's zsh-capture-completion.)
emulate -L zsh
zmodload zsh/zpty || { print -u2 'zsh_capture: no zsh/zpty module'; exit 2 }
local fdir=$1 typed=$2 setup
setup=$(mktemp) || exit 2
trap 'rm -f $setup' EXIT
cat >$setup <<SETUP
PROMPT=
fpath=(${(q)fdir} \$fpath)
autoload -Uz compinit
compinit -u -D
bindkey '^M' undefined
bindkey '^J' undefined
bindkey '^I' complete-word
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
null-line() { echo -E - \$'\0' }
compprefuncs=(null-line)
comppostfuncs=(null-line exit)
compadd() {
  # Calls that only ask for matches (-O, -A, -D) are passed through.
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "\$@"
    return
  fi
  local -a __hits
  builtin compadd -A __hits "\$@"
  local -A apre hpre
  zparseopts -E P:=apre p:=hpre
  local hit
  for hit in \$__hits; do echo -E - "MATCH:\$IPREFIX\${apre[-P]}\${hpre[-p]}\$hit"; done
}
echo ok
SETUP
zpty z zsh -f -i
local line
zpty -w z "source ${(q)setup}"
repeat 20; do
  zpty -r -t z line && [[ $line == ok* ]] && break
  sleep 0.1
done
zpty -w -n z "$typed"$'\t'
local tog=0
while zpty -r z line; do
  if [[ $line == *$'\0'* ]]; then
    (( tog++ )) && break || continue
  fi
  line=${${line//$'\r'/}%$'\n'}
  (( tog )) && [[ $line == *MATCH:* ]] && print -r -- ${line#*MATCH:}
done
zpty -d z
