using QemuTestKit.Introspection.Processes;

namespace QemuTestKit.Machines.Tests.Support;

/// <summary>Finds the real QEMU the tests run against, failing with the way to get it when it is missing.</summary>
internal static class TestQemu
{
    public const string X86 = "qemu-system-x86_64";

    public static string Binary => ExecutableSearch.Find(X86)
        ?? throw new InvalidOperationException($"{X86} is not installed: run ./build.sh setup (it installs Debian's qemu-system-x86 and qemu-utils)");
}
