using QemuTestKit.Introspection.Processes;

namespace QemuTestKit.Machines.Tests.Support;

/// <summary>Finds the real QEMU the tests run against, failing with the way to get it when it is missing.</summary>
internal static class TestQemu
{
    public const string X86 = "qemu-system-x86_64";

    public static string Binary => For("x86_64");

    /// <summary>qemu-system-ARCH, from the Debian package that ./build.sh setup installs for it.</summary>
    public static string For(string architecture)
    {
        var name = $"qemu-system-{architecture}";
        var package = architecture == "x86_64" ? "qemu-system-x86 and qemu-utils" : QemuTestKit.Introspection.QemuPackages.ForTarget(architecture);
        return ExecutableSearch.Find(name)
            ?? throw new InvalidOperationException($"{name} is not installed: run ./build.sh setup (it installs Debian's {package})");
    }
}
