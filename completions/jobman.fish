# fish completion for jobman(1).
#
# Commands and flags are static. Image names and versions, your job names, flavors and
# job states come from jobmand through the hidden `jobman __complete WHAT` (one candidate
# a line, nothing on error), asked with the --socket / -s typed on the line (else
# $JOBMAN_SOCKET, else the default socket).

# Prints the command (the first word that is neither an option nor a global option's value),
# or nothing while it is still to be typed.
function __jobman_command
    set -l tokens (commandline -opc)
    set -e tokens[1]
    while set -q tokens[1]
        switch $tokens[1]
            case -s --settings --socket
                set -e tokens[1]
            case '-*'
            case '*'
                echo $tokens[1]
                return 0
        end
        set -e tokens[1]
    end
    return 1
end

function __jobman_needs_command
    not __jobman_command >/dev/null
end

# True if the command is one of $argv.
function __jobman_in
    contains -- (__jobman_command) $argv
end

# True after `--` on a submit line: the job's arguments.
function __jobman_job_args
    __jobman_in submit; or return 1
    contains -- -- (commandline -opc)
end

# A typed path as the shell would pass it: leading ~ expanded.
function __jobman_path
    string replace -r '^~(?=/|$)' -- $HOME $argv[1]
end

# Prints the live candidates for $argv[1] (images, jobs, flavors, states).
function __jobman_live
    set -l tokens (commandline -opc)
    set -l cmd (__jobman_path $tokens[1])
    string match -q '*/*' -- $cmd; and test -x "$cmd"; or set cmd jobman
    set -l opts
    set -l i 2
    while test $i -le (count $tokens)
        set -l token $tokens[$i]
        switch $token
            case --socket -s --settings
                set i (math $i + 1)
                if test $i -le (count $tokens)
                    set -a opts $token (__jobman_path $tokens[$i])
                end
            case '--socket=*' '--settings=*'
                set -l parts (string split -m 1 = -- $token)
                set -a opts $parts[1] (__jobman_path $parts[2])
            case '-*'
            case '*'
                break
        end
        set i (math $i + 1)
    end
    if command -sq timeout
        command timeout 5 $cmd $opts __complete $argv[1] 2>/dev/null </dev/null
    else
        command $cmd $opts __complete $argv[1] 2>/dev/null </dev/null
    end
end

complete -c jobman -f

# Global options and commands.
complete -c jobman -n __jobman_needs_command -s h -l help -d 'Print help and exit'
complete -c jobman -n __jobman_needs_command -s v -l version -d 'Print the version and exit'
complete -c jobman -n __jobman_needs_command -s s -l settings -r -F -d 'Client settings file (JSON: {"socket": PATH})'
complete -c jobman -n __jobman_needs_command -l socket -r -F -d 'jobmand socket'
complete -c jobman -n __jobman_needs_command -l json -d 'Print machine-readable JSON'
complete -c jobman -n __jobman_needs_command -a images -d 'List the image catalogue'
complete -c jobman -n __jobman_needs_command -a image-details -d "Show an image's labels, size, entrypoint and digest"
complete -c jobman -n __jobman_needs_command -a resources-flavors -d 'List resource flavors'
complete -c jobman -n __jobman_needs_command -a queue -d 'Active jobs per flavor, and where yours stand'
complete -c jobman -n __jobman_needs_command -a submit -d 'Submit a job'
complete -c jobman -n __jobman_needs_command -a list -d 'List your jobs, newest first'
complete -c jobman -n __jobman_needs_command -a details -d 'Everything known about a job'
complete -c jobman -n __jobman_needs_command -a logs -d "Print a job's output"
complete -c jobman -n __jobman_needs_command -a delete -d 'Cancel a job if active, and remove it from your list'
complete -c jobman -n __jobman_needs_command -a wait -d 'Wait until a job ends'
complete -c jobman -n __jobman_needs_command -a resubmit -d 'Queue a new job with the spec of an earlier one'
complete -c jobman -n __jobman_needs_command -a hold -d 'Keep a queued job from starting'
complete -c jobman -n __jobman_needs_command -a release -d 'Let a held job start'
complete -c jobman -n __jobman_needs_command -a stats -d 'Usage report of jobs that ended'
complete -c jobman -n __jobman_needs_command -a cleanup -d 'Admin: remove leftover containers and old jobs'

# Every command's help.
complete -c jobman -n 'not __jobman_needs_command; and not __jobman_job_args' -s h -l help -d 'Print help and exit'

# image-details
complete -c jobman -n '__jobman_in image-details' -s i -l image -x -a '(__jobman_live images)' -d 'Image NAME[:VERSION]'

# submit
set -l submit '__jobman_in submit; and not __jobman_job_args'
complete -c jobman -n $submit -s i -l image -x -a '(__jobman_live images)' -d 'Image NAME[:VERSION]'
complete -c jobman -n $submit -s j -l job-name -l name -x -d 'Name for the job'
complete -c jobman -n $submit -s c -l command -d "The words after '--' replace the image's entrypoint"
complete -c jobman -n $submit -s e -l env -x -d 'Environment variable KEY=VALUE'
complete -c jobman -n $submit -s r -l resources-flavor -x -a '(__jobman_live flavors)' -d 'Resource flavor'
complete -c jobman -n $submit -s t -l time -x -d 'Wall-time limit: 90s, 10m, 2h, 1d or HH:MM:SS'
complete -c jobman -n $submit -l gpus -x -d 'Number of GPUs'
complete -c jobman -n $submit -l after -x -a '(__jobman_live jobs)' -d 'Start only after these jobs succeeded'
complete -c jobman -n $submit -l priority -x -d 'Order among your own queued jobs'
complete -c jobman -n $submit -l notify -x -a 'END FAIL TIMEOUT ALL NONE' -d 'Have the platform tell you when it ends (comma-separated)'
complete -c jobman -n $submit -l hold -d 'Queue it held, until jobman release'
complete -c jobman -n $submit -l array -x -d 'One job per index (0-99, 1,3,5-9), %N at most N at once'
complete -c jobman -n $submit -l retries -x -d 'Queue it again after LOST or an engine failure'
complete -c jobman -n $submit -l from -r -F -d 'Submit every job in FILE, all or none'
complete -c jobman -n $submit -l dry-run -d 'Validate and print the engine command; run nothing'
complete -c jobman -n $submit -l wait -d 'Wait for the job to end'
# The job's arguments after `--`: host paths are likely.
complete -c jobman -n __jobman_job_args -F

# list
complete -c jobman -n '__jobman_in list' -l all-users -d "Everyone's jobs (root and the admin group)"
complete -c jobman -n '__jobman_in list' -l state -x -a '(__jobman_live states)' -d 'Only jobs in this state'
complete -c jobman -n '__jobman_in list' -l limit -x -d 'At most this many jobs'
complete -c jobman -n '__jobman_in list' -l before -x -d 'Only jobs older than this id (the next page)'
complete -c jobman -n '__jobman_in list' -l array -x -a '(__jobman_live jobs)' -d "Only this array's jobs"

# resubmit
complete -c jobman -n '__jobman_in resubmit' -s j -l job -l job-name -x -a '(__jobman_live jobs)' -d 'The job to repeat'
complete -c jobman -n '__jobman_in resubmit' -s r -l resources-flavor -x -a '(__jobman_live flavors)' -d 'Another resource flavor'
complete -c jobman -n '__jobman_in resubmit' -s t -l time -x -d 'Another wall-time limit'
complete -c jobman -n '__jobman_in resubmit' -l name -x -d 'Name for the new job'
complete -c jobman -n '__jobman_in resubmit' -l latest-image -d 'Run what the image name means now'
complete -c jobman -n '__jobman_in resubmit' -l dry-run -d 'Validate; queue nothing'
complete -c jobman -n '__jobman_in resubmit' -l wait -d 'Wait for the new job to end'

# stats
complete -c jobman -n '__jobman_in stats' -l since -x -d 'From this time (2026-11-01, 30d, all)'
complete -c jobman -n '__jobman_in stats' -l until -x -d 'Up to this time'
complete -c jobman -n '__jobman_in stats' -s u -l user -x -d "Only this user's jobs"
complete -c jobman -n '__jobman_in stats' -l by -x -a 'user flavor image state' -d 'One row per group'

# cleanup
complete -c jobman -n '__jobman_in cleanup' -l older-than -x -d 'Finished longer ago than this (90d)'
complete -c jobman -n '__jobman_in cleanup' -l dry-run -d 'Report what would be removed'

# details, logs, delete, wait
complete -c jobman -n '__jobman_in details logs delete wait hold release' -s j -l job -l job-name -x -a '(__jobman_live jobs)' -d 'Job name or id'
complete -c jobman -n '__jobman_in logs' -s f -l follow -d 'Keep printing until the job ends'
complete -c jobman -n '__jobman_in logs' -l tail -x -d 'Only the last N lines'
complete -c jobman -n '__jobman_in delete' -l all -d 'All your jobs'
