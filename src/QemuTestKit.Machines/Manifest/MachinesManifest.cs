namespace QemuTestKit.Machines.Manifest;

/// <summary>
/// <c>qemutestkit.machines.json</c>: what the build validated and prepared, for the test fixtures. QemuTestKit.Tasks
/// writes it next to the test assembly and the fixtures read it, both through <see cref="MachinesManifestJson"/>, so
/// that the writer and the reader cannot drift apart (schema in docs/msbuild.md).
/// </summary>
/// <param name="SchemaVersion">
/// <see cref="CurrentSchemaVersion"/> when written: a reader refuses a newer one instead of misreading a file from a
/// newer build.
/// </param>
/// <param name="Generator">The task package that wrote it (<c>QemuTestKit.Tasks 0.1.0</c>): says which build to blame for a bad file.</param>
/// <param name="Project">The test project that declared the machines (absolute): messages name it, and a rerun command builds it.</param>
/// <param name="Configuration">The build's configuration (Debug, Release...), null when the build did not say: a rerun command builds the same one.</param>
/// <param name="Machines">The declared machines, in declaration order.</param>
public sealed record MachinesManifest(int SchemaVersion, string? Generator, string? Project, string? Configuration, IReadOnlyList<ManifestMachine> Machines)
{
    /// <summary>The file's name, next to the test assembly: where the fixtures look without being told.</summary>
    public const string FileName = "qemutestkit.machines.json";

    /// <summary>
    /// Bumped only when a reader of the previous version would misread the new content (a field changes meaning or
    /// type, or a new one must not be ignored); fields that readers ignore or default come and go within a version.
    /// </summary>
    public const int CurrentSchemaVersion = 1;
}
