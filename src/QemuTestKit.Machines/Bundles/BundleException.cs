using QemuTestKit.Introspection;

namespace QemuTestKit.Machines.Bundles;

/// <summary>What is wrong with a replay bundle (or with writing one).</summary>
public enum ReplayBundleError
{
    /// <summary>The path does not exist.</summary>
    NotFound,

    /// <summary>The path exists but is not a replay bundle (no bundle.json, or a file of another kind).</summary>
    NotABundle,

    /// <summary>A temporary directory of a write that never finished.</summary>
    Unfinished,

    /// <summary>bundle.json belongs to another tool (its <c>kind</c> differs).</summary>
    Foreign,

    /// <summary>bundle.json ends in the middle of the JSON document.</summary>
    Truncated,

    /// <summary>bundle.json is not valid JSON, or a field has the wrong type.</summary>
    Malformed,

    /// <summary>bundle.json was written by a newer QemuTestKit (a higher <c>schemaVersion</c>).</summary>
    NewerSchema,

    /// <summary>bundle.json lacks a field every bundle has.</summary>
    MissingField,

    /// <summary>A path in the bundle points outside it (<c>..</c>, an absolute path, a symbolic link).</summary>
    UnsafePath,

    /// <summary>The zip form cannot be read (truncated or corrupt archive).</summary>
    DamagedZip,

    /// <summary>A file the replay needs is neither in the bundle nor at its recorded place.</summary>
    ExternalMissing,

    /// <summary>A file of the bundle is not what its role says (a state pack that fails its own checks).</summary>
    DamagedFile,

    /// <summary>Writing: the target bundle already exists.</summary>
    AlreadyExists,

    /// <summary>Writing: a source file does not exist.</summary>
    SourceMissing,
}

/// <summary>
/// A replay bundle cannot be read or written. The message is one line that names the bundle, what is wrong and what to
/// do about it (the CLI prints it as is).
/// </summary>
public sealed class ReplayBundleException : QemuTestKitException
{
    public ReplayBundleException(ReplayBundleError error, string bundle, string message, Exception? inner = null)
        : base(message, inner)
    {
        Error = error;
        Bundle = bundle;
    }

    public ReplayBundleError Error { get; }

    /// <summary>The bundle (directory, bundle.json or zip) the error is about, as an absolute path.</summary>
    public string Bundle { get; }
}
