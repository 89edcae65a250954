namespace QemuTestKit.Introspection;

/// <summary>
/// Which Debian package installs which <c>qemu-system-ARCH</c> binary: the one table behind every "install it" hint.
/// Debian splits QEMU's system emulators by family; every target without a package of its own is in qemu-system-misc.
/// </summary>
public static class QemuPackages
{
    /// <summary>The package of the binary the toolkit runs when a machine names neither binary nor architecture.</summary>
    public const string Default = "qemu-system-x86";

    private const string BinaryPrefix = "qemu-system-";

    private static readonly IReadOnlyDictionary<string, string> ByTarget = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["x86_64"] = "qemu-system-x86",
        ["i386"] = "qemu-system-x86",
        ["aarch64"] = "qemu-system-arm",
        ["arm"] = "qemu-system-arm",
        ["ppc"] = "qemu-system-ppc",
        ["ppc64"] = "qemu-system-ppc",
        ["mips"] = "qemu-system-mips",
        ["mipsel"] = "qemu-system-mips",
        ["mips64"] = "qemu-system-mips",
        ["mips64el"] = "qemu-system-mips",
        ["s390x"] = "qemu-system-s390x",
        ["sparc"] = "qemu-system-sparc",
        ["sparc64"] = "qemu-system-sparc",
    };

    /// <summary>The package that provides the emulator of a target architecture (x86_64, aarch64, riscv64...).</summary>
    public static string ForTarget(string target) => ByTarget.GetValueOrDefault(target, "qemu-system-misc");

    /// <summary>
    /// The package that provides a binary named <c>qemu-system-ARCH</c> (a name or a path); <see cref="Default"/> for a
    /// name that does not say its target, as nothing better can be told from it.
    /// </summary>
    public static string ForBinary(string binaryNameOrPath) => TargetOfBinary(binaryNameOrPath) is { } target ? ForTarget(target) : Default;

    /// <summary>The target a binary named <c>qemu-system-TARGET</c> (a name or a path) says it emulates, or null for any other name.</summary>
    public static string? TargetOfBinary(string binaryNameOrPath)
    {
        var name = Path.GetFileName(binaryNameOrPath ?? string.Empty);
        return name.StartsWith(BinaryPrefix, StringComparison.Ordinal) && name.Length > BinaryPrefix.Length ? name[BinaryPrefix.Length..] : null;
    }

    /// <summary>The hint for a missing binary: "apt-get install PACKAGE", worded once for every message that needs it.</summary>
    public static string InstallHint(string binaryNameOrPath) => $"Debian: apt-get install {ForBinary(binaryNameOrPath)}";
}
