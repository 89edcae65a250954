namespace QemuTestKit.Machines.Runtime;

/// <summary>A named point of a recording: a snapshot in the state image, tied to an instruction count and a console position.</summary>
/// <param name="Name">The snapshot's name in the state image.</param>
/// <param name="Icount">The instruction count (query-replay) when it was taken.</param>
/// <param name="TranscriptOffset">How many console bytes had been received by then.</param>
/// <param name="HostTime">When it was taken, on the recording host.</param>
public sealed record Checkpoint(string Name, long Icount, long TranscriptOffset, DateTimeOffset HostTime);
