# bash completion for jobman(1)                              -*- shell-script -*-
#
# Commands and flags are static. Image names and versions, your job names, flavors and
# job states come from jobmand through the hidden `jobman __complete WHAT` (one candidate
# a line, nothing on error), asked with the --socket / -s typed on the line (else
# $JOBMAN_SOCKET, else the default socket). Needs nothing from the bash-completion package.

# Prints the live candidates for `$1` (images, jobs, flavors, states). Quiet and bounded:
# no output if jobmand is unreachable or slow.
_jobman_live()
{
    local -a cmd=("$_jobman_bin")
    [[ -n $_jobman_socket ]] && cmd+=(--socket "$_jobman_socket")
    [[ -n $_jobman_settings ]] && cmd+=(--settings "$_jobman_settings")
    if type -P timeout >/dev/null; then
        timeout 5 "${cmd[@]}" __complete "$1" 2>/dev/null </dev/null
    else
        "${cmd[@]}" __complete "$1" 2>/dev/null </dev/null
    fi
}

# A typed path as the shell would pass it: leading ~ expanded, one level of plain quotes removed.
_jobman_path()
{
    local p=$1
    if [[ $p == \'*\' || $p == \"*\" ]]; then
        p=${p:1:${#p}-2}
    fi
    # shellcheck disable=SC2088 # a literal ~ typed on the line
    [[ $p == "~" || $p == "~/"* ]] && p=$HOME${p:1}
    printf '%s' "$p"
}

# Adds to COMPREPLY the words of stdin that start with `$1`.
_jobman_add_matching()
{
    local candidate
    while IFS= read -r candidate; do
        [[ -n $candidate && $candidate == "$1"* ]] && COMPREPLY+=("$candidate")
    done
}

# Sets `words` and `cword` from COMP_WORDS/COMP_CWORD, joining back the pieces bash split
# off at ':' and '=' (e.g. `jt:1.0`, `--state=RUNNING`) when COMP_LINE shows they were typed
# as one word.
_jobman_reassemble()
{
    words=() cword=0
    if [[ -z ${COMP_LINE-} ]]; then
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        return
    fi
    local line=$COMP_LINE word i j=-1 glued
    for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
        word=${COMP_WORDS[i]}
        glued=0
        if ((i > 0)) && [[ $line != [[:blank:]]* ]]; then
            if [[ -n $word && -z ${word//[:=]/} ]] || [[ ${words[j]} == *[:=] ]]; then
                glued=1
            fi
        fi
        if ((glued)); then
            words[j]+=$word
        else
            words[++j]=$word
        fi
        ((i == COMP_CWORD)) && cword=$j
        line=${line#*"$word"}
    done
}

_jobman()
{
    local words cword
    _jobman_reassemble
    local cur=${words[cword]} prev=${words[cword - 1]}
    COMPREPLY=()

    local _jobman_bin=${words[0]} _jobman_socket="" _jobman_settings=""
    _jobman_bin=$(_jobman_path "$_jobman_bin")
    [[ $_jobman_bin == */* && -x $_jobman_bin ]] || _jobman_bin=jobman

    local commands="images image-details resources-flavors queue submit list details logs delete wait resubmit hold release stats cleanup"
    local global_opts="-h --help -s --settings --socket --json -v --version"

    # Global options come before the command; find the command and the --socket / -s typed.
    local i command="" command_at=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket) ((i + 1 < cword)) && _jobman_socket=$(_jobman_path "${words[i + 1]}"); ((i++)) ;;
            --socket=*) _jobman_socket=$(_jobman_path "${words[i]#*=}") ;;
            -s | --settings) ((i + 1 < cword)) && _jobman_settings=$(_jobman_path "${words[i + 1]}"); ((i++)) ;;
            --settings=*) _jobman_settings=$(_jobman_path "${words[i]#*=}") ;;
            -*) ;;
            *) command=${words[i]} command_at=$i; break ;;
        esac
    done

    # An option's value: `-i VALUE` or `--image=VALUE`.
    local option=$prev value=$cur value_prefix=""
    if [[ $cur == --*=* ]]; then
        option=${cur%%=*} value=${cur#*=} value_prefix=$option=
    fi

    if [[ -z $command ]]; then
        case $option in
            -s | --settings | --socket)
                compopt -o filenames 2>/dev/null
                local f
                while IFS= read -r f; do COMPREPLY+=("$value_prefix$f"); done < <(compgen -f -- "$value")
                ;;
            *)
                if [[ $cur == -* ]]; then
                    mapfile -t COMPREPLY < <(compgen -W "$global_opts" -- "$cur")
                else
                    mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
                fi
                ;;
        esac
    else
        # Words after `--` go to the job (submit only): host paths are likely.
        for ((i = command_at + 1; i < cword; i++)); do
            if [[ ${words[i]} == -- ]]; then
                [[ $command == submit ]] || return 0
                compopt -o filenames 2>/dev/null
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                return 0
            fi
        done

        local opts="" live=""
        case $command in
            image-details)
                opts="-i --image"
                case $option in -i | --image) live=images ;; esac
                ;;
            submit)
                opts="-i --image -j --job-name --name -r --resources-flavor -t --time -e --env --gpus -c --command --after --priority --retries --notify --hold --array --from --dry-run --wait"
                case $option in
                    -i | --image) live=images ;;
                    -r | --resources-flavor) live=flavors ;;
                    --after) live=jobs ;;
                    --notify)
                        # A comma list: complete the word after the last comma.
                        local word done_words=${value%"${value##*,}"}
                        for word in END FAIL TIMEOUT ALL NONE; do
                            [[ $word == "${value##*,}"* ]] && COMPREPLY+=("$value_prefix$done_words$word")
                        done
                        return 0
                        ;;
                    --from)
                        compopt -o filenames 2>/dev/null
                        local f
                        while IFS= read -r f; do COMPREPLY+=("$value_prefix$f"); done < <(compgen -f -- "$value")
                        return 0
                        ;;
                    -j | --job-name | --name | -t | --time | -e | --env | --gpus | --priority | --retries | --array) live=none ;;
                esac
                ;;
            list)
                opts="--all-users --state --limit --before --array"
                case $option in
                    --state) live=states ;;
                    --array) live=jobs ;;
                    --limit|--before) live=none ;;
                esac
                ;;
            details | wait | hold | release)
                opts="-j --job --job-name"
                case $option in -j | --job | --job-name) live="jobs" ;; esac
                ;;
            logs)
                opts="-j --job --job-name -f --follow --tail"
                case $option in
                    -j | --job | --job-name) live="jobs" ;;
                    --tail) live=none ;;
                esac
                ;;
            delete)
                opts="-j --job --job-name --all"
                case $option in -j | --job | --job-name) live="jobs" ;; esac
                ;;
            resubmit)
                opts="-j --job --job-name -r --resources-flavor -t --time --name --latest-image --dry-run --wait"
                case $option in
                    -j | --job | --job-name) live=jobs ;;
                    -r | --resources-flavor) live=flavors ;;
                    -t | --time | --name) live=none ;;
                esac
                ;;
            stats)
                opts="--since --until -u --user --by"
                case $option in
                    --by)
                        local by
                        for by in user flavor image state; do
                            [[ $by == "$value"* ]] && COMPREPLY+=("$value_prefix$by")
                        done
                        return 0
                        ;;
                    --since | --until | -u | --user) live=none ;;
                esac
                ;;
            cleanup)
                opts="--older-than --dry-run"
                case $option in --older-than) live=none ;; esac
                ;;
            images | resources-flavors | queue) ;;
            *) return 0 ;;
        esac
        # An option's value (`none`: free text, nothing to offer); else the command's options.
        if [[ -n $live ]]; then
            if [[ $live != none ]]; then
                local candidates
                candidates=$(_jobman_live "$live")
                _jobman_add_matching "$value" <<<"$candidates"
                [[ -n $value_prefix ]] && COMPREPLY=("${COMPREPLY[@]/#/$value_prefix}")
            fi
        elif [[ -z $value_prefix ]]; then
            mapfile -t COMPREPLY < <(compgen -W "-h --help $opts" -- "$cur")
        fi
    fi

    # Readline replaces only the text after the last ':' or '=' that broke the word; drop
    # what comes before it from the candidates.
    local typed=${2-${COMP_WORDS[COMP_CWORD]}}
    if [[ $cur != "$typed" && $cur == *"$typed" && ${#COMPREPLY[@]} -gt 0 ]]; then
        local keep=${cur%"$typed"}
        COMPREPLY=("${COMPREPLY[@]#"$keep"}")
    fi
    return 0
}

complete -F _jobman jobman
