"""The orchestration chain of one chat turn: rewrite -> retrieve -> answer -> citation check."""
