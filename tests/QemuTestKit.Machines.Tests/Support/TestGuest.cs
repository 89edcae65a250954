using System.Text.Json;

namespace QemuTestKit.Machines.Tests.Support;

/// <summary>
/// The test guest built by <c>eng/guest/build-guest.sh [ARCH]</c> (Debian kernel + busybox initramfs): found through
/// the environment variable <c>QEMUTESTKIT_GUEST</c> (x86_64) or <c>QEMUTESTKIT_GUEST_AARCH64</c>,
/// <c>QEMUTESTKIT_GUEST_RISCV64</c> (path of guest.json), or at <c>artifacts/guest/guest.json</c>
/// (<c>artifacts/guest-ARCH/guest.json</c>) of the repository holding the test binaries.
/// </summary>
/// <param name="MachineType">The machine the guest is built for (its console is that machine's first serial port).</param>
/// <param name="Cpu">The CPU model; null for the machine's default.</param>
internal sealed record TestGuest(string Kernel, string Initrd, string Append, string ReadyPattern, string ManifestPath,
    string Architecture = "x86_64", string MachineType = "q35", string? Cpu = "max")
{
    public const string Variable = "QEMUTESTKIT_GUEST";
    public const string X86 = "x86_64";

    private static readonly Dictionary<string, Lazy<TestGuest>> s_loaded = new[] { X86, "aarch64", "riscv64" }
        .ToDictionary(a => a, a => new Lazy<TestGuest>(() => Read(a)), StringComparer.Ordinal);

    /// <summary>The x86_64 guest, read once per test run.</summary>
    public static TestGuest Load() => Load(X86);

    /// <summary>The guest of an architecture (x86_64, aarch64, riscv64), read once per test run.</summary>
    public static TestGuest Load(string architecture) => s_loaded[architecture].Value;

    private static string BuildHint(string architecture) => architecture == X86
        ? "run ./build.sh setup to build the test guest"
        : $"run ./build.sh setup (or eng/guest/build-guest.sh {architecture}) to build the {architecture} test guest";

    private static string VariableOf(string architecture) =>
        architecture == X86 ? Variable : $"{Variable}_{architecture.ToUpperInvariant()}";

    private static TestGuest Read(string architecture)
    {
        var hint = BuildHint(architecture);
        var manifest = FindManifest(architecture, hint);
        using var document = JsonDocument.Parse(File.ReadAllText(manifest));
        var root = document.RootElement;
        string? Optional(string name) => root.TryGetProperty(name, out var value) && value.GetString() is { Length: > 0 } text ? text : null;
        string Field(string name) => Optional(name) ?? throw new InvalidOperationException($"{manifest} has no '{name}': {hint}");

        var guest = architecture == X86
            ? new TestGuest(Field("kernel"), Field("initrd"), Field("append"), Field("readyPattern"), manifest)
            : new TestGuest(Field("kernel"), Field("initrd"), Field("append"), Field("readyPattern"), manifest,
                Field("architecture"), Field("machineType"), Optional("cpu"));
        if (guest.Architecture != architecture)
        {
            throw new InvalidOperationException($"{manifest} is a guest for {guest.Architecture}, not {architecture}: {hint}");
        }

        foreach (var file in new[] { guest.Kernel, guest.Initrd })
        {
            if (!File.Exists(file))
            {
                throw new InvalidOperationException($"the test guest file {file} (named by {manifest}) is missing: {hint}");
            }
        }

        return guest;
    }

    private static string FindManifest(string architecture, string hint)
    {
        var variable = VariableOf(architecture);
        var configured = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured)
                ? Path.GetFullPath(configured)
                : throw new InvalidOperationException($"{variable} names {configured}, which does not exist: {hint}");
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "QemuTestKit.sln")))
            {
                var manifest = Path.Combine(dir.FullName, "artifacts", architecture == X86 ? "guest" : $"guest-{architecture}", "guest.json");
                return File.Exists(manifest)
                    ? manifest
                    : throw new InvalidOperationException($"the {architecture} test guest is missing ({manifest} does not exist): {hint}");
            }
        }

        throw new InvalidOperationException($"cannot find the {architecture} test guest: {variable} is not set and no QemuTestKit.sln is above {AppContext.BaseDirectory}; {hint}");
    }
}
