using System.Globalization;

namespace QemuTestKit.Fixtures;

/// <summary>What is kept of a test's recording.</summary>
public enum KeepPolicy
{
    /// <summary>Bundles of failing tests only (the default).</summary>
    Failed,

    /// <summary>A bundle of every test, passing or not.</summary>
    All,

    /// <summary>No bundles at all (recordings are still made unless recording is off).</summary>
    None,
}

/// <summary>
/// Run-wide settings, from the environment so that they reach the test host through <c>dotnet test</c>, CI and
/// <c>qemutestkit hunt</c> alike. docs/fixtures.md lists them.
/// </summary>
public sealed record FixtureSettings
{
    public const string RecordVariable = "QEMUTESTKIT_RECORD";
    public const string KeepVariable = "QEMUTESTKIT_KEEP";
    public const string MaxMachinesVariable = "QEMUTESTKIT_MAX_MACHINES";
    public const string BundleDirectoryVariable = "QEMUTESTKIT_BUNDLE_DIR";
    public const string ReplayVariable = "QEMUTESTKIT_REPLAY";
    public const string ReplayFromVariable = "QEMUTESTKIT_REPLAY_FROM";
    public const string IcountShiftVariable = "QEMUTESTKIT_ICOUNT_SHIFT";
    public const string CheckpointIntervalVariable = "QEMUTESTKIT_CHECKPOINT_INTERVAL";

    /// <summary>Record every machine (<c>QEMUTESTKIT_RECORD=false</c> turns it off for the run).</summary>
    public bool Record { get; init; } = true;

    public KeepPolicy Keep { get; init; } = KeepPolicy.Failed;

    /// <summary>How many machines run at once in this test host; the rest wait (default: the number of cores).</summary>
    public int MaxMachines { get; init; } = Environment.ProcessorCount;

    /// <summary>Where bundles go; default <c>&lt;test results directory&gt;/qemutestkit</c>.</summary>
    public string? BundleDirectory { get; init; }

    /// <summary>Replay this bundle instead of recording a new run.</summary>
    public string? Replay { get; init; }

    /// <summary>With <see cref="Replay"/>: start the replay at this checkpoint.</summary>
    public string? ReplayFrom { get; init; }

    /// <summary>Instruction counting shift for recorded runs that prepare their own ready state (hunt --perturb varies it).</summary>
    public int? IcountShift { get; init; }

    /// <summary>Automatic checkpoints of recorded runs this often.</summary>
    public TimeSpan? CheckpointInterval { get; init; }

    /// <exception cref="FixtureException">A variable has a value that means nothing; the message names it.</exception>
    public static FixtureSettings FromEnvironment(Func<string, string?>? read = null)
    {
        read ??= Environment.GetEnvironmentVariable;
        var settings = new FixtureSettings();
        if (Value(read, RecordVariable) is { } record)
        {
            settings = settings with { Record = Bool(record, RecordVariable) };
        }

        if (Value(read, KeepVariable) is { } keep)
        {
            settings = settings with
            {
                Keep = keep.ToLowerInvariant() switch
                {
                    "failed" => KeepPolicy.Failed,
                    "all" => KeepPolicy.All,
                    "none" => KeepPolicy.None,
                    _ => throw Bad(KeepVariable, keep, "failed, all or none"),
                },
            };
        }

        if (Value(read, MaxMachinesVariable) is { } max)
        {
            settings = settings with
            {
                MaxMachines = int.TryParse(max, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1
                    ? n
                    : throw Bad(MaxMachinesVariable, max, "a whole number of at least 1"),
            };
        }

        if (Value(read, IcountShiftVariable) is { } shift)
        {
            settings = settings with
            {
                IcountShift = int.TryParse(shift, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= 10
                    ? n
                    : throw Bad(IcountShiftVariable, shift, "a shift from 0 to 10"),
            };
        }

        if (Value(read, CheckpointIntervalVariable) is { } interval)
        {
            settings = settings with
            {
                CheckpointInterval = double.TryParse(interval, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) && seconds > 0
                    ? TimeSpan.FromSeconds(seconds)
                    : throw Bad(CheckpointIntervalVariable, interval, "a number of seconds greater than 0"),
            };
        }

        return settings with
        {
            BundleDirectory = Value(read, BundleDirectoryVariable),
            Replay = Value(read, ReplayVariable),
            ReplayFrom = Value(read, ReplayFromVariable),
        };
    }

    private static string? Value(Func<string, string?> read, string name) => read(name) is { Length: > 0 } value ? value.Trim() : null;

    private static bool Bool(string value, string name) => value.ToLowerInvariant() switch
    {
        "1" or "true" or "yes" or "on" => true,
        "0" or "false" or "no" or "off" => false,
        _ => throw Bad(name, value, "true or false"),
    };

    private static FixtureException Bad(string name, string value, string expected) =>
        new($"{name}='{value}' is not valid: expected {expected}");
}
