using System.Text.Json;

namespace QemuTestKit.Machines.Tests.Support;

/// <summary>
/// The test guest built by <c>eng/guest/build-guest.sh</c> (Debian kernel + busybox initramfs): found through the
/// environment variable <c>QEMUTESTKIT_GUEST</c> (path of guest.json) or at <c>artifacts/guest/guest.json</c> of the
/// repository holding the test binaries.
/// </summary>
internal sealed record TestGuest(string Kernel, string Initrd, string Append, string ReadyPattern, string ManifestPath)
{
    public const string Variable = "QEMUTESTKIT_GUEST";
    private const string BuildHint = "run ./build.sh setup to build the test guest";

    private static readonly Lazy<TestGuest> s_loaded = new(Read);

    /// <summary>The guest, read once per test run.</summary>
    public static TestGuest Load() => s_loaded.Value;

    private static TestGuest Read()
    {
        var manifest = FindManifest();
        using var document = JsonDocument.Parse(File.ReadAllText(manifest));
        var root = document.RootElement;
        string Field(string name) => root.TryGetProperty(name, out var value) && value.GetString() is { Length: > 0 } text
            ? text
            : throw new InvalidOperationException($"{manifest} has no '{name}': {BuildHint}");

        var guest = new TestGuest(Field("kernel"), Field("initrd"), Field("append"), Field("readyPattern"), manifest);
        foreach (var file in new[] { guest.Kernel, guest.Initrd })
        {
            if (!File.Exists(file))
            {
                throw new InvalidOperationException($"the test guest file {file} (named by {manifest}) is missing: {BuildHint}");
            }
        }

        return guest;
    }

    private static string FindManifest()
    {
        var configured = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured)
                ? Path.GetFullPath(configured)
                : throw new InvalidOperationException($"{Variable} names {configured}, which does not exist: {BuildHint}");
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "QemuTestKit.sln")))
            {
                var manifest = Path.Combine(dir.FullName, "artifacts", "guest", "guest.json");
                return File.Exists(manifest)
                    ? manifest
                    : throw new InvalidOperationException($"the test guest is missing ({manifest} does not exist): {BuildHint}");
            }
        }

        throw new InvalidOperationException($"cannot find the test guest: {Variable} is not set and no QemuTestKit.sln is above {AppContext.BaseDirectory}; {BuildHint}");
    }
}
