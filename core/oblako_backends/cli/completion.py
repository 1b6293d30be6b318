"""`completion bash|zsh`: a script generated from the parser itself, so it never drifts."""

from __future__ import annotations

import argparse

from ..plugins import list_backends


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """Completion of commands, their options and backend names: one function, written in
    bash's or zsh's own terms."""
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]

    def options(p: argparse.ArgumentParser) -> list[str]:
        return [s for a in p._actions for s in a.option_strings]

    # Before the command only global options come; those taking a value hide the word after them.
    valued = [s for a in parser._actions if a.option_strings and a.nargs is None for s in a.option_strings]
    cases = [f'    "") choices="{" ".join([*sub.choices, *options(parser)])}" ;;']
    for name, command in sub.choices.items():
        flags = options(command)
        choices = [c for a in command._actions if not a.option_strings and a.choices for c in a.choices]
        cases.append(f'    {name}) choices="{" ".join([*choices, *flags])}" ;;')
    backends = " ".join(sorted({n for b in list_backends() for n in b.names}))
    # The same logic in each shell's own terms: bash counts words from 0 in COMP_WORDS and
    # filters with compgen; zsh counts from 1 in `words` and filters what compadd is given.
    if shell == "bash":
        line, last, first, offer = "COMP_WORDS", "COMP_CWORD", 1, 'COMPREPLY=($(compgen -W "$choices" -- "$cur"))'
        head, tail = "", "complete -F _oblako_backends oblako-backends"
    else:
        line, last, first, offer = "words", "CURRENT", 2, "compadd -- ${=choices}"
        head, tail = "#compdef oblako-backends\n", "compdef _oblako_backends oblako-backends"
    at = f"{last} - 1"
    return f"""{head}# oblako-backends {shell} completion: eval "$(oblako-backends completion {shell})"
_oblako_backends() {{
  local cur=${{{line}[{last}]}} prev=${{{line}[{at}]}} cmd="" choices i
  if [[ $prev == --backend ]]; then choices="{backends}"; {offer}; return; fi
  for ((i = {first}; i < {last}; i++)); do
    case ${{{line}[i]}} in
      {"|".join(sorted(set(valued)))}) ((i++)) ;;
      -*) ;;
      *) cmd=${{{line}[i]}}; break ;;
    esac
  done
  case $cmd in
{chr(10).join(cases)}
    *) choices="" ;;
  esac
  {offer}
}}
{tail}"""
