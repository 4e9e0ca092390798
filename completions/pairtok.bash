# SPDX-License-Identifier: ISC
# bash completion for pairtok(1)                           -*- shell-script -*-
#
# Completes commands, their options, files for --store, directories for
# --home, and principals and ids of the store in use for --principal and
# revoke.  Tokens are never offered: they are not stored.  Needs only bash,
# not the bash-completion package.

# The words before the cursor with `--opt = value` (split at '=' by
# COMP_WORDBREAKS) joined back into `--opt=value`, one per line.
_pairtok_words()
{
    local i word
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ ${COMP_WORDS[i + 1]-} == = ]] && ((i + 1 < COMP_CWORD)); then
            word+="=${COMP_WORDS[i + 2]-}"
            ((i += 2))
        fi
        printf '%s\n' "$word"
    done
}

# Field $1 (1 = id, 2 = principal) of `pairtok list` on the store the
# command line names with --store or --home.
_pairtok_list_field()
{
    local -a store_args=()
    local word take=0
    while IFS= read -r word; do
        if ((take)); then
            store_args+=("$word")
            take=0
        fi
        case $word in
            --store | --home)
                store_args+=("$word")
                take=1
                ;;
            --store=* | --home=*) store_args+=("$word") ;;
        esac
    done < <(_pairtok_words)
    pairtok "${store_args[@]}" list 2>/dev/null | awk -v f="$1" 'NR > 1 && NF >= 5 { print $f }' |
        sort -u
}

# The command: the first word that is neither an option nor the value of
# --store/--home.
_pairtok_command()
{
    local word skip=0
    while IFS= read -r word; do
        if ((skip)); then
            skip=0
            continue
        fi
        case $word in
            --store | --home | --audit-log) skip=1 ;;
            -*) ;;
            *)
                printf '%s\n' "$word"
                return
                ;;
        esac
    done < <(_pairtok_words)
}

_pairtok()
{
    local cur=${COMP_WORDS[COMP_CWORD]} opt=""
    ((COMP_CWORD >= 1)) && opt=${COMP_WORDS[COMP_CWORD - 1]}
    if [[ $cur == = ]]; then
        cur=""
    elif [[ $opt == = ]] && ((COMP_CWORD >= 2)); then
        opt=${COMP_WORDS[COMP_CWORD - 2]}
    fi
    COMPREPLY=()

    case $opt in
        --store | --audit-log)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
        --home)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return
            ;;
        --principal)
            mapfile -t COMPREPLY < <(compgen -W "$(_pairtok_list_field 2)" -- "$cur")
            return
            ;;
        --ttl)
            # Examples of the forms --ttl takes (seconds, or h/m/s units).
            mapfile -t COMPREPLY < <(compgen -W "60 300 90s 2m 5m 15m 30m 1h" -- "$cur")
            return
            ;;
        --label)
            return
            ;;
    esac

    local command
    command=$(_pairtok_command)
    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "--store --home --audit-log --no-syslog --help --version" \
                -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "issue redeem list revoke prune path check init" \
                -- "$cur")
        fi
        return
    fi

    local opts="--help --store --home --audit-log --no-syslog"
    case $command in
        issue) opts+=" --label --ttl --json --qr" ;;
        redeem) opts+=" --json" ;;
        list) opts+=" --principal --json" ;;
        revoke)
            opts+=" --principal"
            if [[ $cur != -* ]]; then
                mapfile -t COMPREPLY < <(compgen -W "$(_pairtok_list_field 1)" -- "$cur")
                return
            fi
            ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    fi
} &&
    complete -F _pairtok pairtok

# ex: filetype=sh
