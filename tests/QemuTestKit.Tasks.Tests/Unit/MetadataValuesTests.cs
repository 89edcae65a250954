using QemuTestKit.Machines.Specs;
using QemuTestKit.Tasks.Items;

namespace QemuTestKit.Tasks.Tests.Unit;

public sealed class MetadataValuesTests
{
    [Theory]
    [InlineData("512", 512)]
    [InlineData("256M", 256)]
    [InlineData("256MiB", 256)]
    [InlineData("256MB", 256)]
    [InlineData("256m", 256)]
    [InlineData("1G", 1024)]
    [InlineData("1GiB", 1024)]
    [InlineData("1.5G", 1536)]
    [InlineData("2097152K", 2048)]
    [InlineData("1T", 1024 * 1024)]
    [InlineData(" 64M ", 64)]
    [InlineData("0", 0)]
    public void Memory_sizes_read_as_QEMU_reads_them(string text, int mib)
    {
        MetadataValues.TryParseMemoryMiB(text, out var parsed, out var problem).Should().BeTrue(problem);
        parsed.Should().Be(mib);
    }

    [Theory]
    [InlineData("256 MiB", "without a space")]
    [InlineData("1 G", "without a space")]
    [InlineData("lots", "is not a memory size")]
    [InlineData("", "is not a memory size")]
    [InlineData("256X", "is not a memory size")]
    [InlineData("-256M", "is not a memory size")]
    [InlineData("1.3M", "whole number of MiB")]
    [InlineData("1000K", "whole number of MiB")]
    [InlineData("99999999G", "too large")]
    public void Malformed_memory_sizes_are_explained(string text, string explanation)
    {
        MetadataValues.TryParseMemoryMiB(text, out _, out var problem).Should().BeFalse();
        problem.Should().Contain(explanation);
    }

    [Theory]
    [InlineData("120", 120)]
    [InlineData("120s", 120)]
    [InlineData(" 5 ", 5)]
    [InlineData("0", 0)]
    public void Timeouts_are_whole_seconds(string text, int seconds)
    {
        MetadataValues.TryParseSeconds(text, out var parsed, out _).Should().BeTrue();
        parsed.Should().Be(seconds);
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("1.5")]
    [InlineData("2m")]
    public void Other_timeouts_are_malformed(string text) => MetadataValues.TryParseSeconds(text, out _, out _).Should().BeFalse();

    [Theory]
    [InlineData("two")]
    [InlineData("1.0")]
    [InlineData("")]
    [InlineData("99999999999")]
    public void Counts_must_be_whole_numbers(string text) => MetadataValues.TryParseInteger(text, out _, out _).Should().BeFalse();

    [Theory]
    [InlineData("true", true)]
    [InlineData("False", false)]
    [InlineData("yes", true)]
    [InlineData("off", false)]
    public void Booleans_read_as_MSBuild_reads_them(string text, bool value)
    {
        MetadataValues.TryParseBoolean(text, out var parsed, out _).Should().BeTrue();
        parsed.Should().Be(value);
    }

    [Fact]
    public void Accelerators_are_tcg_or_kvm()
    {
        MetadataValues.TryParseAccelerator("KVM", out var kvm, out _).Should().BeTrue();
        kvm.Should().Be(Accelerator.Kvm);
        MetadataValues.TryParseAccelerator("hvf", out _, out var problem).Should().BeFalse();
        problem.Should().Contain("tcg or kvm");
    }

    [Fact]
    public void Key_value_lists_take_commas_semicolons_and_QEMU_comma_escapes()
    {
        MetadataValues.TryParseKeyValues("max-bytes=1024,period=1000;note=a,,b", out var values, out _).Should().BeTrue();
        values.Should().BeEquivalentTo(new Dictionary<string, string> { ["max-bytes"] = "1024", ["period"] = "1000", ["note"] = "a,b" });

        MetadataValues.TryParseKeyValues("max-bytes", out _, out var problem).Should().BeFalse();
        problem.Should().Contain("'max-bytes' has no key=value form");
        MetadataValues.TryParseKeyValues("a=1,a=2", out _, out problem).Should().BeFalse();
        problem.Should().Contain("given twice");
    }

    [Fact]
    public void Host_forwards_are_a_list()
    {
        MetadataValues.TryParseHostForwards("tcp:2222-:22;udp:5353:53", out var forwards, out _).Should().BeTrue();
        forwards.Should().Equal(new HostForward("tcp", 2222, 22), new HostForward("udp", 5353, 53));
        MetadataValues.TryParseHostForwards("tcp:2222", out _, out var problem).Should().BeFalse();
        problem.Should().Contain("'tcp:2222'");
    }

    [Fact]
    public void Host_port_0_is_any_free_port_and_a_guest_port_0_is_refused()
    {
        MetadataValues.TryParseHostForwards("tcp:0-:22,tcp:0-:80", out var forwards, out _).Should().BeTrue();
        forwards.Should().Equal(new HostForward("tcp", 0, 22), new HostForward("tcp", 0, 80));
        MetadataValues.TryParseHostForwards("tcp:2222-:0", out _, out var problem).Should().BeFalse();
        problem.Should().Contain("'tcp:2222-:0'").And.Contain("host port 0 (any free port)");
    }

    [Fact]
    public void Extra_arguments_are_a_semicolon_list()
    {
        MetadataValues.SplitArguments(" -rtc ; base=utc;\n  -no-hpet ;").Should().Equal("-rtc", "base=utc", "-no-hpet");
    }

    [Theory]
    [InlineData("virtio", "virtio-blk-pci")]
    [InlineData("ide", "ide-hd")]
    [InlineData("scsi", "scsi-hd")]
    [InlineData("nvme", "nvme")]
    [InlineData("virtio-blk-pci", "virtio-blk-pci")]
    public void Disk_interfaces_accept_QEMUs_short_drive_names(string given, string device) =>
        MetadataValues.DiskInterface(given).Should().Be(device);

    [Fact]
    public void Paths_are_made_absolute_against_the_project_directory()
    {
        MetadataValues.AbsolutePath("guest/vmlinuz", "/work/p").Should().Be("/work/p/guest/vmlinuz");
        MetadataValues.AbsolutePath(@"..\guest\vmlinuz", "/work/p").Should().Be("/work/guest/vmlinuz");
        MetadataValues.AbsolutePath("/boot/vmlinuz", "/work/p").Should().Be("/boot/vmlinuz");
    }
}
