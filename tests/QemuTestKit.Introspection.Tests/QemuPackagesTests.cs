namespace QemuTestKit.Introspection.Tests;

public sealed class QemuPackagesTests
{
    [Theory]
    [InlineData("qemu-system-x86_64", "qemu-system-x86")]
    [InlineData("qemu-system-i386", "qemu-system-x86")]
    [InlineData("/usr/bin/qemu-system-aarch64", "qemu-system-arm")]
    [InlineData("qemu-system-arm", "qemu-system-arm")]
    [InlineData("qemu-system-riscv64", "qemu-system-misc")]
    [InlineData("qemu-system-riscv32", "qemu-system-misc")]
    [InlineData("qemu-system-m68k", "qemu-system-misc")]
    [InlineData("qemu-system-ppc64", "qemu-system-ppc")]
    [InlineData("qemu-system-mips64el", "qemu-system-mips")]
    [InlineData("qemu-system-s390x", "qemu-system-s390x")]
    [InlineData("qemu-system-sparc64", "qemu-system-sparc")]
    [InlineData("/opt/qemu/bin/qemu", QemuPackages.Default)]
    [InlineData("qemu-system-", QemuPackages.Default)]
    public void Names_the_debian_package_of_a_binary(string binary, string package)
    {
        QemuPackages.ForBinary(binary).Should().Be(package);
    }

    [Theory]
    [InlineData("/usr/bin/qemu-system-aarch64", "aarch64")]
    [InlineData("qemu-system-riscv64", "riscv64")]
    [InlineData("qemu-system-", null)]
    [InlineData("/opt/qemu/bin/qemu", null)]
    public void Reads_the_target_a_binary_name_says(string binary, string? target)
    {
        QemuPackages.TargetOfBinary(binary).Should().Be(target);
    }

    [Theory]
    [InlineData("/nonexistent/qemu-system-aarch64", "apt-get install qemu-system-arm")]
    [InlineData("/nonexistent/qemu-system-riscv64", "apt-get install qemu-system-misc")]
    [InlineData("/nonexistent/qemu-system-x86_64", "apt-get install qemu-system-x86")]
    public void A_missing_binary_names_the_package_that_provides_it(string binary, string hint)
    {
        var missing = () => QemuBinary.Resolve(binary);

        missing.Should().Throw<QemuBinaryNotFoundException>().Which.Message.Should().Contain(hint).And.Contain(binary);
    }
}
