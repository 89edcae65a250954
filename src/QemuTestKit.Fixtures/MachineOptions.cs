namespace QemuTestKit.Fixtures;

/// <summary>Per-call choices of <c>StartAsync</c>; everything else comes from the csproj and the run's settings.</summary>
public sealed record MachineOptions
{
    /// <summary>Record this machine (null: the machine's <c>Record</c> metadata, else the run's <c>QEMUTESTKIT_RECORD</c>).</summary>
    public bool? Record { get; init; }

    /// <summary>Automatic checkpoints this often during a recorded run (null: the run's setting).</summary>
    public TimeSpan? CheckpointInterval { get; init; }
}
