namespace QemuTestKit.Cli.Output.Json;

/// <summary><c>replay --json</c>: what was replayed, where, and the verdict with its numbers.</summary>
/// <param name="Where">"host", or "image" for a replay in the recorded container image.</param>
/// <param name="Image">The container image, when the bundle was recorded in one.</param>
/// <param name="Until">The stop asked for with --until, as the human line says it.</param>
/// <param name="ComparedBytes">Console bytes compared (equal up to the divergence, if any).</param>
/// <param name="DivergedAt">The transcript offset of the first differing byte.</param>
/// <param name="Transcript">The file --save-transcript wrote.</param>
/// <param name="RelayedCheckpoints">The later checkpoints the replay went on from (loaded one instruction before each).</param>
internal sealed record ReplayReport(
    string Bundle,
    string Machine,
    string QemuVersion,
    string From,
    string? Until,
    string Where,
    string? Image,
    bool Identical,
    string Verdict,
    long ComparedBytes,
    long? DivergedAt,
    string? Recorded,
    string? Replayed,
    long? StoppedAtIcount,
    double ElapsedSeconds,
    string? Binary,
    string? Transcript,
    long? TranscriptBytes,
    IReadOnlyList<string> RelayedCheckpoints);
